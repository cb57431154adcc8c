"""Shared fixtures: firmware ELFs are cross-compiled once per session by `make` (incremental)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"


def build_firmware(board: str = "m4-ideal") -> Path:
    """Run the firmware Makefile for a board (make only rebuilds what changed)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc not found: install gcc-arm-none-eabi (see README)")
    subprocess.run(
        ["make", "-s", "-j2", f"BOARD={board}"], cwd=FIRMWARE, check=True, capture_output=True
    )
    return FIRMWARE / "build" / board


@pytest.fixture(scope="session")
def firmware_dir() -> Path:
    """Folder of the m4-ideal test ELFs (hello.elf, exitcode.elf, ...)."""
    return build_firmware("m4-ideal")


@pytest.fixture(scope="session")
def elf(firmware_dir: Path):
    """elf("hello") -> path of firmware/build/m4-ideal/hello.elf."""

    def path(name: str) -> Path:
        found = firmware_dir / f"{name}.elf"
        assert found.exists(), f"{found} was not built"
        return found

    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long simulations (deselect with -m 'not slow')")


@pytest.fixture(scope="session")
def harness(firmware_dir: Path):
    """The kernel harness firmware loaded once per session (cmsim.harness.Harness)."""
    from cmsim.harness import Harness

    return Harness(firmware_dir / "kernel_harness.elf")


def program_elves(firmware_dir: Path) -> list[Path]:
    """The small test programs (firmware/tests, firmware/special), not the CIFAR-10 app builds.

    Tests that run "every firmware" to completion use these; the application ELFs (tens of
    millions of instructions) have their own tests.
    """
    sources = [*FIRMWARE.glob("tests/*.c"), *FIRMWARE.glob("tests/*.S")]
    elves = [firmware_dir / f"{source.stem}.elf" for source in sorted(sources)]
    elves += [
        firmware_dir / "special" / f"{s.stem}.elf" for s in sorted(FIRMWARE.glob("special/*.S"))
    ]
    return [elf for elf in elves if elf.exists()]


def run_results(board: str, program: str, path: str, words: int):
    """Run a test firmware that stores its measurements in a `results` array and exits 0;
    return (its first `words` words, the engine)."""
    import io

    from cmsim.board import load_board
    from cmsim.engine import Engine
    from cmsim.image import load_image
    from cmsim.machine import Machine

    image = load_image(build_firmware(board) / f"{program}.elf")
    machine = Machine(image, load_board(board), stdout=io.BytesIO())
    engine = Engine(machine, path=path)
    assert engine.run().exit_code == 0
    base = image.symbols["results"]
    return [machine.read_word(base + 4 * k) for k in range(words)], engine
