"""Arm's CMSIS-NN as a fourth kernel variant, built from the user's own checkout.

`--cmsis-nn PATH` (or `CMSIS_NN_PATH` in the environment) names a CMSIS-NN checkout: its
`Include/` and `Source/`. cmsim detects the API family from the headers, compiles the integer
sources with the firmware's flags for the board's core (DSP path on for the Cortex-M4) plus
cmsim's shim (firmware/cmsis_nn/shim.c: CMSIS-NN behind cmsim's kernel API), and links the
kernel harness and the CIFAR-10 application against it. Builds are cached by the content of
the checkout. No CMSIS-NN code is part of cmsim.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cmsim.bench.runner import FIRMWARE_DIR, BenchError, build_firmware, make_arguments
from cmsim.board import Board

VARIANT = "cmsis-nn"
C_VARIANT = "cmsis_nn"  # the suffix of its C functions (nn_conv2d_cmsis_nn)
ENVIRONMENT = "CMSIS_NN_PATH"
OLDEST_REVISION = 16  # arm_nnfunctions.h V.16.0.0 is CMSIS-NN v6.0.0, the oldest family supported
# What cmsim calls: every supported checkout declares these.
REQUIRED = (
    "arm_convolve_wrapper_s8",
    "arm_convolve_wrapper_s8_get_buffer_size",
    "arm_depthwise_conv_wrapper_s8",
    "arm_depthwise_conv_wrapper_s8_get_buffer_size",
    "arm_fully_connected_s8",
    "arm_fully_connected_s8_get_buffer_size",
    "arm_avgpool_s8",
    "arm_avgpool_s8_get_buffer_size",
    "arm_max_pool_s8",
    "arm_elementwise_add_s8",
    "arm_softmax_s8",
)


class CmsisNnError(BenchError):
    """The CMSIS-NN checkout is missing, not one, of an unsupported version, or does not build."""


@dataclass(frozen=True)
class Checkout:
    """A CMSIS-NN source tree and the API family cmsim found in it."""

    path: Path
    api: int  # 6: the v6.x family; 7: v7.0 and later (arm_convolve_s8 takes upscale_dims)
    revision: str  # arm_nnfunctions.h's $Revision, e.g. "V.19.1.0"

    @property
    def label(self) -> str:
        family = "v6" if self.api == 6 else "v7 or later"
        return f"CMSIS-NN {family} (arm_nnfunctions.h {self.revision})"


@dataclass(frozen=True)
class Build:
    """What one build of a checkout produced (in its cache folder)."""

    checkout: Checkout
    folder: Path
    library: Path  # libcmsim_cmsis_nn.a: CMSIS-NN's integer sources and cmsim's shim
    harness: Path  # the kernel harness with the cmsis_nn variant linked in
    cifar10: Path  # the CIFAR-10 application, ReLUs fused

    def make_variables(self) -> tuple[str, ...]:
        """What `make model` needs to link the cmsis_nn variant."""
        return (f"MODEL_LIBS={self.library}",)


def find_checkout(path: str | None) -> Checkout | None:
    """The checkout named by `path`, else by $CMSIS_NN_PATH, else None."""
    chosen = path or os.environ.get(ENVIRONMENT)
    return detect(Path(chosen)) if chosen else None


def detect(path: Path) -> Checkout:
    """Check that `path` is a CMSIS-NN checkout cmsim supports; its API family."""
    header = path / "Include" / "arm_nnfunctions.h"
    if not path.is_dir():
        raise CmsisNnError(f"CMSIS-NN checkout not found: {path}")
    if not header.is_file() or not (path / "Source").is_dir():
        raise CmsisNnError(
            f"{path} is not a CMSIS-NN checkout (no Include/arm_nnfunctions.h and Source/)"
        )
    try:
        text = header.read_text(errors="replace")
    except OSError as exc:
        raise CmsisNnError(f"cannot read {header}: {exc.strerror or exc}") from None
    found = re.search(r"\$Revision:\s*V\.?(\d+)\.(\d+)\.(\d+)", text)
    revision = "V.{}.{}.{}".format(*found.groups()) if found else "unknown"
    missing = [name for name in REQUIRED if not re.search(rf"\b{name}\s*\(", text)]
    if not found or int(found.group(1)) < OLDEST_REVISION or missing:
        why = f"lacks {', '.join(missing[:3])}" if missing else "is older than v6.0.0"
        raise CmsisNnError(
            f"unsupported CMSIS-NN at {path}: arm_nnfunctions.h revision {revision} {why}; "
            "cmsim supports CMSIS-NN v6.x and v7 or later"
        )
    api = 7 if re.search(r"arm_convolve_s8\s*\([^;]*upscale_dims", text) else 6
    return Checkout(path.resolve(), api, revision)


def _digest(checkout: Checkout) -> str:
    digest = hashlib.sha256(str(checkout.api).encode())
    sources = sorted(checkout.path.glob("Source/*/*.c")) + sorted(
        checkout.path.rglob("Include/**/*.h")
    )
    for file in [*sources, FIRMWARE_DIR / "cmsis_nn" / "shim.c", FIRMWARE_DIR / "Makefile"]:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def build(checkout: Checkout, board: Board) -> Build:
    """Compile the checkout for the board (once per content); the library, harness and app."""
    base = build_firmware(board)
    folder = base / "cmsis-nn" / _digest(checkout)
    done = subprocess.run(
        [
            "make", "-s", "-j2", "cmsis-nn", *make_arguments(board), f"PYTHON={sys.executable}",
            f"CMSIS_NN_PATH={checkout.path}", f"CMSIS_NN_DIR={folder}",
            f"CMSIS_NN_API={checkout.api}",
        ],
        cwd=FIRMWARE_DIR,
        capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "error" in line.lower()]
        last = (lines or done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise CmsisNnError(f"building {checkout.label} from {checkout.path} failed: {last}")
    return Build(
        checkout,
        folder,
        folder / "libcmsim_cmsis_nn.a",
        folder / "kernel_harness.elf",
        folder / "cifar10_cmsis_nn.elf",
    )
