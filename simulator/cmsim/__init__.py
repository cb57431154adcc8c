"""cmsim: a cycle-accurate Cortex-M simulator for neural-network kernels.

The names below are imported on first use (PEP 562), so that starting the `cmsim` command
stays light until its Ctrl-C guard is in place (cmsim.launch)."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Board": "cmsim.board",
    "Region": "cmsim.board",
    "load_board": "cmsim.board",
    "Engine": "cmsim.engine",
    "RunResult": "cmsim.engine",
    "CmsimError": "cmsim.errors",
    "FirmwareFault": "cmsim.errors",
    "ImageError": "cmsim.errors",
    "LimitReached": "cmsim.errors",
    "Image": "cmsim.image",
    "load_image": "cmsim.image",
    "Machine": "cmsim.machine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cmsim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
