"""The `cmsim` command: output, exit codes, and one clear line (never a traceback) on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_firmware

from cmsim.cli import main


def run_cli(capfd, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("cmsim: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_run_hello_prints_firmware_output_and_summary(capfd, elf):
    code, out, err = run_cli(capfd, "run", str(elf("hello")))
    assert code == 0 and err == ""
    assert out.startswith("Hello from Cortex-M4!\n2 + 40 = 42\n")
    for label in ("exit code", "instructions", "cycles", "time at board clock", "M instr/s"):
        assert label in out


def test_exit_code_of_the_firmware_is_the_process_exit_code(capfd, elf):
    code, _, _ = run_cli(capfd, "run", str(elf("exitcode")))
    assert code == 55


def test_json_output_is_one_object(capfd):
    hello = build_firmware("stm32f4") / "hello.elf"
    code, out, _ = run_cli(capfd, "run", str(hello), "--json", "--board", "stm32f4")
    data = json.loads(out)
    assert code == 0 and data["exit_code"] == 0 and data["board"] == "stm32f4"
    assert data["output"] == "Hello from Cortex-M4!\n2 + 40 = 42\n"
    assert data["cycles"] >= data["instructions"] > 0
    assert data["clock_hz"] == 168_000_000


def test_fault_report(capfd, elf):
    code, out, err = run_cli(capfd, "run", str(elf("fault_read")))
    assert code == 134
    assert out.startswith("about to fault\n")
    assert_one_line_error(err, "read from unmapped memory", "in read_unmapped", "0x60000000")


def test_limit_report(capfd, elf):
    code, _, err = run_cli(capfd, "run", str(elf("spin")), "--max-instructions", "10000")
    assert code == 124
    assert_one_line_error(err, "10,000 instructions", "spin_forever")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "/no/such.elf"], "no such file"),
        (["run", "{hello}", "--board", "m9"], "unknown board 'm9'"),
        (["run", "{hello}", "--board", "{bad_board}"], "malformed board file"),
        (["run", "{hello}", "--max-instructions", "-3"], "must be positive"),
        (["run", "{hello}", "--max-instructions", "lots"], "not a number"),
        (["run"], "required: elf"),
        (["fly"], "invalid choice"),
        (["run", "{notelf}"], "not an ELF file"),
        (["run", "{python}"], "64-bit ELF"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(capfd, elf, tmp_path: Path, args, fragment):
    bad_board = tmp_path / "bad.toml"
    bad_board.write_text("name = [\n")
    notelf = tmp_path / "readme.elf"
    notelf.write_text("not an elf")
    values = {
        "hello": str(elf("hello")),
        "bad_board": str(bad_board),
        "notelf": str(notelf),
        "python": str(Path(sys.executable).resolve()),
    }
    code, _, err = run_cli(capfd, *[a.format(**values) for a in args])
    assert code == 2
    assert_one_line_error(err, fragment)


def test_help_exits_zero(capfd):
    code, out, _ = run_cli(capfd, "run", "--help")
    assert code == 0 and "--max-instructions" in out


def test_console_script_never_prints_a_traceback(elf, tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "simulator")}
    wrong = tmp_path / "x86.elf"
    data = bytearray(elf("hello").read_bytes())
    data[18:20] = (62).to_bytes(2, "little")  # EM_X86_64 in a 32-bit file
    wrong.write_bytes(bytes(data))
    done = subprocess.run(
        [sys.executable, "-m", "cmsim", "run", str(wrong)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    expected = f"{wrong}: ELF for EM_X86_64, not Arm; build with arm-none-eabi-gcc"
    assert done.stderr == f"cmsim: error: {expected}\n"


# -- output streams (a reader that goes away, a full disk, a closed stdout) -----------------


def cmsim_process(*args: str, **options) -> subprocess.CompletedProcess:
    """`python -m cmsim ARGS` in a subprocess (stderr captured as text)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "simulator")}
    return subprocess.run(
        [sys.executable, "-m", "cmsim", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
        **options,
    )


@pytest.mark.parametrize("extra", [[], ["--json"], ["--profile"]])
def test_closed_pipe_ends_quietly_with_sigpipe_status(elf, extra):
    """`cmsim run x.elf | head -n 1`: the reader is gone before cmsim writes; cmsim stops
    without a word and exits 141 (128 + SIGPIPE), as a Unix tool killed by SIGPIPE does."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = cmsim_process("run", str(elf("hello")), *extra, stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_closed_pipe_during_bench_table(elf):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = cmsim_process(
            "bench", "--kernel", "relu", "--shape", "h=2,w=2,c=4", stdout=write_end
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_full_disk_is_one_line_and_exit_74(elf, extra):
    with open("/dev/full", "w") as full:
        done = cmsim_process("run", str(elf("hello")), *extra, stdout=full)
    assert done.returncode == 74
    assert_one_line_error(done.stderr, "No space left on device")


def test_closed_stdout_is_one_line_and_exit_74(elf):
    done = cmsim_process(
        "run",
        str(elf("hello")),
        stdout=subprocess.DEVNULL,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == 74
    assert_one_line_error(done.stderr, "standard output is closed")
