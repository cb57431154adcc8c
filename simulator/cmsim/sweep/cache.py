"""The sweep's result cache: one small JSON file per point, named by the point's content key.

One file per point keeps every write atomic (written aside, then renamed) and lets an
interrupted sweep keep everything it finished. A file that cannot be read back (cut short,
edited, from another format) counts as missing: it is reported once, in one line, and
computed and written again. The cache lives under $XDG_CACHE_HOME/cmsim/sweep (or
~/.cache/cmsim/sweep); when that cannot be written, under the temporary folder (said once).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cmsim.sweep.points import Row

ROW_FIELDS = {f.name: f for f in dataclasses.fields(Row)}
FORMAT = 1


class Cache:
    """Rows by key under `root`; `warn` gets the one-line notices."""

    def __init__(self, root: Path, warn: Callable[[str], None]):
        self.root = root
        self.warn = warn
        self.broken = 0  # entries found unreadable this run
        self._write_failed = False

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[Row] | None:
        """The cached rows of a point, or None when missing or unreadable."""
        path = self.path(key)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            self.broken += 1
            return None
        rows = _parse(text, key)
        if rows is None:
            self.broken += 1
        return rows

    def put(self, key: str, rows: list[Row]) -> None:
        """Store a point's rows (a failure to write is said once; the sweep goes on)."""
        path = self.path(key)
        entry = {"format": FORMAT, "key": key, "rows": [dataclasses.asdict(r) for r in rows]}
        try:
            _clear_way(path)
            fd, staging = tempfile.mkstemp(dir=path.parent, prefix=".entry-")
            with os.fdopen(fd, "w") as out:
                json.dump(entry, out)
            os.replace(staging, path)
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                self.warn(f"cannot write the sweep cache under {self.root}: {exc}")

    def report(self) -> None:
        """Say in one line how many broken entries were ignored (they are written afresh)."""
        if self.broken:
            self.warn(
                f"{self.broken} unreadable sweep cache entr{'y' if self.broken == 1 else 'ies'} "
                f"under {self.root} ignored (computed again)"
            )


def _clear_way(path: Path) -> None:
    """Make room for an entry: a file where its folder belongs, or a folder where the entry
    belongs, is debris of a broken cache."""
    if path.parent.exists() and not path.parent.is_dir():
        path.parent.unlink()
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


def _parse(text: str, key: str) -> list[Row] | None:
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    raw = entry.get("rows")
    if not isinstance(raw, list) or not raw:
        return None
    rows = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != set(ROW_FIELDS):
            return None
        try:
            rows.append(Row(**item))
        except TypeError:
            return None
        if not _well_typed(rows[-1]):
            return None
    return rows


def _well_typed(row: Row) -> bool:
    strings = ("kernel", "shape", "variant", "board", "golden", "error", "model", "operator")
    numbers = ("host_seconds", "cycles_per_mac", "speedup")
    return (
        all(isinstance(getattr(row, name), str) for name in strings)
        and all(isinstance(getattr(row, name), (int, float, type(None))) for name in numbers)
        and isinstance(row.cycles, (int, type(None)))
        and isinstance(row.macs, int)
        and isinstance(row.seed, int)
    )


def default_root() -> Path:
    """$XDG_CACHE_HOME/cmsim/sweep, or ~/.cache/cmsim/sweep."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cmsim" / "sweep"


def open_cache(chosen: str | None, warn: Callable[[str], None]) -> Cache:
    """The cache at `chosen` (--cache), or the default one; falls back to a folder in the
    temporary directory when the default cannot be written (said once on `warn`)."""
    root = Path(chosen) if chosen else default_root()
    problem = _unwritable(root)
    if problem is None:
        return Cache(root, warn)
    fallback = Path(tempfile.gettempdir()) / f"cmsim-sweep-cache-{os.getuid()}"
    if _unwritable(fallback) is not None:
        warn(f"cannot write the sweep cache at {root} ({problem}) nor {fallback}: not caching")
        return Cache(Path(tempfile.mkdtemp(prefix="cmsim-sweep-")), warn)
    warn(f"cannot write the sweep cache at {root} ({problem}): using {fallback}")
    return Cache(fallback, warn)


def _unwritable(root: Path) -> str | None:
    """Why nothing can be written under `root` (None when it can)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
