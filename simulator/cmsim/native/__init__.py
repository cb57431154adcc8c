"""Builds and loads the C fast path (fastpath.c) with the system C compiler, on first use.

The shared object is cached under $XDG_CACHE_HOME/cmsim (or ~/.cache/cmsim), keyed by a hash
of the source and of the libunicorn it links against. Each engine loads its own copy, because
the helper keeps its state in static variables. Returns None when no compiler is available;
the engine then uses its pure-Python fast path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import unicorn

SOURCE = Path(__file__).with_name("fastpath.c")


class Fact(ctypes.Structure):
    """One dynamic instruction's run-time facts, as recorded by the C hooks."""

    _fields_ = [
        ("pc", ctypes.c_uint32),
        ("executed", ctypes.c_uint32),
        ("address", ctypes.c_uint32),
        ("div", ctypes.c_uint32),
    ]


TRANSLATE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint32)
SETTLE = ctypes.CFUNCTYPE(
    None,
    ctypes.c_uint64,
    ctypes.c_uint32,
    ctypes.c_int64,
    ctypes.POINTER(Fact),
    ctypes.c_int64,
    ctypes.POINTER(ctypes.c_int64),
)
LIMIT = ctypes.CFUNCTYPE(None, ctypes.c_uint64)
# block address, cycle, last block before it, instructions of the skipped (quiet) edges
OBSERVE = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64)
CHECK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64)


def _libunicorn() -> Path:
    folder = Path(unicorn.__file__).parent / "lib"
    for name in ("libunicorn.so.2", "libunicorn.so", "libunicorn.dylib"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError("libunicorn shared library not found in the unicorn package")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cmsim"


def build() -> Path | None:
    """Compile fastpath.c (once); the path of the shared object, or None without a compiler."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return None
    lib = _libunicorn()
    digest = hashlib.sha256(SOURCE.read_bytes() + str(lib).encode()).hexdigest()[:16]
    target = _cache_dir() / f"fastpath-{digest}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / target.name
        command = [
            compiler,
            "-O2",
            "-shared",
            "-fPIC",
            "-o",
            str(out),
            str(SOURCE),
            str(lib),
            f"-Wl,-rpath,{lib.parent}",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            return None
        os.replace(out, target)  # atomic: concurrent builders race harmlessly
    return target


def load() -> ctypes.CDLL | None:
    """A private copy of the helper (its own static state), or None when it cannot be built."""
    built = build()
    if built is None:
        return None
    copy = Path(tempfile.mkdtemp(prefix="cmsim-fastpath-")) / built.name
    shutil.copyfile(built, copy)
    native = ctypes.CDLL(str(copy))
    copy.unlink()  # stays mapped while loaded
    copy.parent.rmdir()
    native.fp_init.argtypes = [ctypes.c_uint32, ctypes.c_int64]
    native.fp_set_callbacks.argtypes = [TRANSLATE, SETTLE, LIMIT, ctypes.c_void_p, CHECK]
    native.fp_set_deadline.argtypes = [ctypes.c_int64, ctypes.c_int]
    native.fp_set_clock.argtypes = [ctypes.c_int64, ctypes.c_int64]
    native.fp_add_region.argtypes = [ctypes.c_uint32] * 6
    native.fp_add_cache.argtypes = [ctypes.c_int]
    native.fp_cache_touch.argtypes = [ctypes.c_int, ctypes.c_int64]
    native.fp_cache_query.argtypes = [ctypes.c_int, ctypes.c_int64]
    native.fp_cache_get.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64)]
    native.fp_cache_set.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    native.fp_set_ops.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    native.fp_clear_memo.argtypes = []
    native.fp_add_info.argtypes = [ctypes.c_uint32] + [ctypes.c_int] * 14
    native.fp_div_cycles.argtypes = [ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32]
    native.fp_div_cycles.restype = ctypes.c_uint32
    native.fp_attach.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
    native.fp_finish.argtypes = [ctypes.c_int]
    native.fp_current.argtypes = [
        ctypes.POINTER(ctypes.c_uint64),
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.POINTER(Fact)),
    ]
    native.fp_current.restype = ctypes.c_int64
    native.fp_mark_observed.argtypes = []
    native.fp_add_quiet.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int64]
    native.fp_set_batching.argtypes = [ctypes.c_int]
    native.fp_take_batch.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
    native.fp_take_batch.restype = ctypes.c_int64
    native.fp_set_max.argtypes = [ctypes.c_int64]
    native.fp_set_write_buffer_off.argtypes = [ctypes.c_int]
    native.fp_resume.argtypes = []
    native.fp_release.argtypes = []
    native.fp_totals.argtypes = [ctypes.POINTER(ctypes.c_int64)]
    return native
