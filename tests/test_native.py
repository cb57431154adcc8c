"""cmsim.native: the compiled fast path's cache and loading, in subprocesses with their own
cache folder, temporary folder and compiler (issue 14: a broken cache or compiler never
crashes a run, and one loaded library serves every engine of a process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Loads the library, runs hello.elf on the fast path when it could, and says which path ran.
PROBE = """
import io, sys
from cmsim import native
from cmsim.board import load_board
from cmsim.engine import Engine
from cmsim.image import load_image
from cmsim.machine import Machine
engines = [Engine(Machine(load_image(sys.argv[1]), load_board("m4-ideal"), io.BytesIO()))
           for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 1)]
result = engines[-1].run()
assert result.exit_code == 0
print("fast" if engines[-1]._native is not None else "reference")
maps = open("/proc/self/maps").read().count("cmsim-fastpath")
print(maps)
"""


def probe(tmp_path: Path, elf: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "simulator"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path / "tmp"),
        **env,
    }
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(elf), *extra],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def cached(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "cmsim").glob("fastpath-*.so"))


def test_builds_once_into_the_cache_and_leaks_no_temporary_folder(tmp_path: Path, elf):
    first = probe(tmp_path, elf("hello"))
    assert first.returncode == 0 and first.stdout.split()[0] == "fast", first.stderr
    assert first.stderr == ""
    assert len(cached(tmp_path)) == 1
    assert list((tmp_path / "tmp").iterdir()) == [], "temporary build folders removed"
    stamp = cached(tmp_path)[0].stat().st_mtime_ns
    again = probe(tmp_path, elf("hello"))
    assert again.stdout.split()[0] == "fast" and cached(tmp_path)[0].stat().st_mtime_ns == stamp


def _corrupt_variants(good: bytes) -> dict[str, bytes]:
    libunicorn = next((Path(sys.prefix) / "lib").glob("python3*/site-packages/unicorn/lib/*.so*"))
    return {
        "empty": b"",
        "random": os.urandom(len(good)),
        "truncated": good[: len(good) // 3],
        "another library": libunicorn.read_bytes(),
    }


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "another library"])
def test_a_corrupted_cached_library_is_rebuilt_not_loaded(tmp_path: Path, elf, kind):
    assert probe(tmp_path, elf("hello")).returncode == 0
    (path,) = cached(tmp_path)
    good = path.read_bytes()
    path.write_bytes(_corrupt_variants(good)[kind])
    done = probe(tmp_path, elf("hello"))
    assert done.returncode == 0, done.stderr  # a truncated library loaded blindly: SIGBUS
    assert done.stdout.split()[0] == "fast" and done.stderr == ""
    (rebuilt,) = cached(tmp_path)
    assert rebuilt.read_bytes() == good


@pytest.mark.parametrize(
    "env",
    [
        {"XDG_CACHE_HOME": "/proc/cmsim-cannot-be-here"},  # not writable
        {"XDG_CACHE_HOME": "", "HOME": "/nonexistent/home"},  # no home
        {"XDG_CACHE_HOME": "{file}"},  # a file in the way
    ],
)
def test_an_unusable_cache_folder_falls_back_to_a_private_build(tmp_path: Path, elf, env):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    env = {key: value.format(file=a_file) for key, value in env.items()}
    done = probe(tmp_path, elf("hello"), **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "fast" and done.stderr == ""
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_broken_compiler_warns_once_and_runs_on_the_reference_path(tmp_path: Path, elf):
    done = probe(tmp_path, elf("hello"), "3", CC="false")
    assert done.returncode == 0 and done.stdout.split()[0] == "reference"
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cmsim: warning: the C fast path could not")
    assert "reference path" in lines[0]


def test_one_library_serves_every_engine_of_a_process(tmp_path: Path, elf):
    one = probe(tmp_path, elf("hello"), "1")
    many = probe(tmp_path, elf("hello"), "40")
    assert one.returncode == many.returncode == 0
    assert int(many.stdout.split()[1]) == int(one.stdout.split()[1]) > 0, "no copy per engine"
