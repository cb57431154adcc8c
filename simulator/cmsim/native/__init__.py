"""Builds and loads the C fast path (fastpath.c) with the system C compiler, on first use.

The shared object is cached under $XDG_CACHE_HOME/cmsim (or ~/.cache/cmsim) as
`fastpath-<inputs>-<content>.so`: <inputs> hashes the source, the libunicorn it links against
and the compiler; <content> hashes the file itself, and is checked before the file is used, so
an empty, truncated, corrupted or foreign file is rebuilt instead of loaded (a truncated
library mapped into the process would crash it with SIGBUS). The verified bytes are loaded
from a private copy (an anonymous memory file on Linux), so nothing can change them under the
running process, and the library exports a build id checked after loading.

The library is loaded once per process and shared by every Engine: it keeps no state of its
own, each engine passes its context (`Context`) to every call. When the cache folder cannot be
used (read-only, missing HOME, a file in the way) the library is built for this process only.
When no compiler works, `load()` returns None after one warning on stderr, and engines use the
reference path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import unicorn

SOURCE = Path(__file__).with_name("fastpath.c")
FLAGS = ("-O2", "-shared", "-fPIC")
COMPILE_TIMEOUT = 300  # seconds


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
# block address, reason (STOP_LIMIT, STOP_INTERRUPT)
LIMIT = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_int)
STOP_LIMIT, STOP_INTERRUPT = 0, 1
# block address, cycle, last block before it, instructions of the skipped (quiet) edges
OBSERVE = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64)
CHECK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64)
# pc, trap (TRAP_*), access address: a fault the hooks found before the instruction ran
FAULT = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_int, ctypes.c_uint32)
TRAP_NOCP, TRAP_UNALIGNED, TRAP_DIVBYZERO = 1, 2, 3
TRAP_UNDEFINED = 4  # an instruction the board's core does not have (timing/cores.py)

_loaded: ctypes.CDLL | None = None
_tried = False  # load() answers once per process (and warns at most once)


def _libunicorn() -> Path:
    folder = Path(unicorn.__file__).parent / "lib"
    for name in ("libunicorn.so.2", "libunicorn.so", "libunicorn.dylib"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError("libunicorn shared library not found in the unicorn package")


def _cache_dir() -> Path | None:
    """The cache folder, or None when there is no usable one (HOME unset or missing)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no password entry
            return None
    return Path(base) / "cmsim"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _warn(message: str) -> None:
    try:
        sys.stderr.write(f"cmsim: warning: {message}\n")
        sys.stderr.flush()
    except (OSError, AttributeError, ValueError):
        pass


def _cached(folder: Path | None, inputs: str) -> bytes | None:
    """The bytes of a cached build of `inputs` whose content matches its name, if any; a file
    that does not match is removed (when the folder allows it)."""
    if folder is None:
        return None
    try:
        candidates = sorted(folder.glob(f"fastpath-{inputs}-*.so"))
    except OSError:
        return None
    for path in candidates:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if data and path.stem.rsplit("-", 1)[-1] == _digest(data):
            return data
        try:
            path.unlink()  # empty, truncated, corrupted or another library
        except OSError:
            pass
    return None


def _compile(compiler: str, lib: Path, build_id: str) -> bytes | str:
    """Compile fastpath.c; the shared object's bytes, or the compiler's complaint."""
    with tempfile.TemporaryDirectory(prefix="cmsim-build-") as tmp:
        out = Path(tmp) / "fastpath.so"
        command = [
            compiler,
            *FLAGS,
            f'-DFP_BUILD_ID="{build_id}"',
            "-o",
            str(out),
            str(SOURCE),
            str(lib),
            f"-Wl,-rpath,{lib.parent}",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{compiler}: {exc}"
        if done.returncode != 0 or not out.is_file():
            lines = (done.stderr or done.stdout or "").strip().splitlines()
            return f"{compiler} failed: {lines[0] if lines else f'exit {done.returncode}'}"
        return out.read_bytes()


def _store(folder: Path | None, inputs: str, data: bytes) -> bool:
    """Put a build in the cache (atomically: concurrent builders race harmlessly)."""
    if folder is None:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fastpath-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
            os.replace(tmp, folder / f"fastpath-{inputs}-{_digest(data)}.so")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True
    except OSError:
        return False


def _open(data: bytes) -> ctypes.CDLL:
    """dlopen a private copy of `data`: an anonymous memory file where the system has them,
    else a temporary file removed at once (it stays mapped)."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("cmsim-fastpath")
        try:
            os.write(fd, data)
            return ctypes.CDLL(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
    folder = tempfile.mkdtemp(prefix="cmsim-fastpath-")
    try:
        path = Path(folder) / "fastpath.so"
        path.write_bytes(data)
        return ctypes.CDLL(str(path))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load() -> ctypes.CDLL | None:
    """The helper library, built and loaded once per process; None (after one warning on
    stderr) when it cannot be built."""
    global _loaded, _tried
    if not _tried:
        _tried = True
        _loaded = _build_and_open()
    return _loaded


def _build_and_open() -> ctypes.CDLL | None:
    name = os.environ.get("CC", "cc")
    compiler = shutil.which(name) or shutil.which("gcc")
    if compiler is None:
        _warn(
            f"no C compiler ({name}) found: the C fast path is off and runs take the "
            "reference path (about 100x slower); install gcc"
        )
        return None
    try:
        lib = _libunicorn()
    except FileNotFoundError as exc:
        _warn(f"{exc}: the C fast path is off (runs take the reference path)")
        return None
    inputs = _digest(SOURCE.read_bytes() + f"{lib}|{compiler}|{FLAGS}".encode())
    folder = _cache_dir()
    data = _cached(folder, inputs)
    if data is None:
        built = _compile(compiler, lib, inputs)
        if isinstance(built, str):
            _warn(
                f"the C fast path could not be built ({built}); runs take the reference "
                "path (about 100x slower)"
            )
            return None
        data = built
        _store(folder, inputs, data)
    try:
        native = _open(data)
    except OSError as exc:
        _warn(f"the C fast path could not be loaded ({exc}); runs take the reference path")
        return None
    native.fp_build_id.restype = ctypes.c_char_p
    if native.fp_build_id() != inputs.encode():
        _warn("the cached C fast path is not the one cmsim built; runs take the reference path")
        return None
    _declare(native)
    return native


def _declare(native: ctypes.CDLL) -> None:
    """Argument and result types of the library's functions (all but fp_div_cycles and fp_new
    take the context first)."""
    native.fp_div_cycles.argtypes = [ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32]
    native.fp_div_cycles.restype = ctypes.c_uint32
    ctx = ctypes.c_void_p
    native.fp_new.argtypes = [ctypes.c_uint32, ctypes.c_int64]
    native.fp_new.restype = ctx
    native.fp_release.argtypes = [ctx]
    native.fp_catch_sigint.argtypes = [ctx, ctypes.c_int]
    native.fp_set_callbacks.argtypes = [
        ctx,
        TRANSLATE,
        SETTLE,
        LIMIT,
        ctypes.c_void_p,
        CHECK,
        FAULT,
    ]
    native.fp_set_traps.argtypes = [ctx, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    native.fp_set_deadline.argtypes = [ctx, ctypes.c_int64, ctypes.c_int]
    native.fp_set_clock.argtypes = [ctx, ctypes.c_int64, ctypes.c_int64]
    native.fp_add_region.argtypes = [ctx] + [ctypes.c_uint32] * 6
    native.fp_add_cache.argtypes = [ctx, ctypes.c_int]
    native.fp_cache_touch.argtypes = [ctx, ctypes.c_int, ctypes.c_int64]
    native.fp_cache_query.argtypes = [ctx, ctypes.c_int, ctypes.c_int64]
    native.fp_cache_get.argtypes = [ctx, ctypes.c_int, ctypes.POINTER(ctypes.c_int64)]
    native.fp_cache_set.argtypes = [
        ctx,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_int,
    ]
    native.fp_set_ops.argtypes = [ctx, ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    native.fp_clear_memo.argtypes = [ctx]
    native.fp_add_info.argtypes = [ctx, ctypes.c_uint32] + [ctypes.c_int] * 15
    native.fp_attach.argtypes = [
        ctx,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint64),
        ctypes.c_int,
    ]
    native.fp_finish.argtypes = [ctx, ctypes.c_int]
    native.fp_current.argtypes = [
        ctx,
        ctypes.POINTER(ctypes.c_uint64),
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.POINTER(Fact)),
    ]
    native.fp_current.restype = ctypes.c_int64
    native.fp_mark_observed.argtypes = [ctx]
    native.fp_add_quiet.argtypes = [ctx, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int64]
    native.fp_set_batching.argtypes = [ctx, ctypes.c_int]
    native.fp_take_batch.argtypes = [ctx, ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
    native.fp_take_batch.restype = ctypes.c_int64
    native.fp_set_max.argtypes = [ctx, ctypes.c_int64]
    native.fp_set_write_buffer_off.argtypes = [ctx, ctypes.c_int]
    native.fp_resume.argtypes = [ctx]
    native.fp_totals.argtypes = [ctx, ctypes.POINTER(ctypes.c_int64)]
    native.fp_tag_hits.argtypes = [ctx, ctypes.c_int64]
    native.fp_tag_hits.restype = ctypes.c_int64
    native.fp_pc.argtypes = [ctx]
    native.fp_set_explaining.argtypes = [ctx, ctypes.c_int]
    native.fp_force_miss.argtypes = [ctx]
    native.fp_pc.restype = ctypes.c_uint32


class Context:
    """One engine's state in the shared library (a `Ctx` of fastpath.c). Its attributes are
    the library's `fp_*` functions with this context bound as the first argument."""

    def __init__(self, native: ctypes.CDLL, handle: int):
        self.native = native
        self._handle = handle

    def __getattr__(self, name: str):
        if not name.startswith("fp_") or self._handle is None:
            raise AttributeError(name)
        bound = functools.partial(getattr(self.native, name), self._handle)
        setattr(self, name, bound)  # looked up once
        return bound

    def release(self) -> None:
        """Free the context (the engine and its Unicorn object are gone)."""
        if self._handle is not None:
            self.native.fp_release(self._handle)
            self._handle = None
            self.__dict__ = {"native": self.native, "_handle": None}


def new_context(info_capacity_log2: int, max_instructions: int) -> Context | None:
    """A fresh context in the shared library, or None without the library (or memory)."""
    native = load()
    if native is None:
        return None
    handle = native.fp_new(info_capacity_log2, max_instructions)
    return Context(native, handle) if handle else None
