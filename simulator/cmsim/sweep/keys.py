"""Content identities: what a cached sweep result depends on, as digests.

A point's result is a function of the ELF it runs (its bytes), the board (its parsed
description: a preset or a user's file, comments and key order aside), the point itself (kernel,
shape, variant, seed; or the model file's bytes) and cmsim (its version and the digest of its
own sources, so that a change to the timing model is a new cache even before a release).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from cmsim.board import Board


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | Path) -> str:
    return digest_bytes(Path(path).read_bytes())


def board_digest(board: Board) -> str:
    """The board's description as canonical JSON, hashed."""
    text = json.dumps(dataclasses.asdict(board), sort_keys=True, default=str)
    return digest_bytes(text.encode())


@lru_cache(maxsize=1)
def version_tag() -> str:
    """`<version>+<digest of cmsim's sources>`: results of another cmsim are never reused, and
    cluster workers must run the same one."""
    try:
        version = metadata.version("cmsim")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    root = resources.files("cmsim")
    for path in sorted(_sources(Path(str(root)))):
        digest.update(path.relative_to(Path(str(root))).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:16]}"


def _sources(root: Path) -> list[Path]:
    found = [p for pattern in ("*.py", "*.c", "*.toml") for p in root.rglob(pattern)]
    return [p for p in found if "__pycache__" not in p.parts]


def task_key(firmware_digest: str, board: str, identity: dict) -> str:
    """The cache key of one point: firmware, board digest, point identity, cmsim version."""
    text = json.dumps(
        {"elf": firmware_digest, "board": board, "point": identity, "cmsim": version_tag()},
        sort_keys=True,
    )
    return digest_bytes(text.encode())
