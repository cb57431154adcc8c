"""cmsim: a cycle-accurate Cortex-M simulator for neural-network kernels."""

from cmsim.board import Board, Region, load_board
from cmsim.engine import Engine, RunResult
from cmsim.errors import CmsimError, FirmwareFault, ImageError, LimitReached
from cmsim.image import Image, load_image
from cmsim.machine import Machine

__all__ = [
    "Board",
    "Engine",
    "CmsimError",
    "FirmwareFault",
    "Image",
    "ImageError",
    "LimitReached",
    "Machine",
    "Region",
    "RunResult",
    "load_board",
    "load_image",
]
