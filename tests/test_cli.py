"""The `cmsim` command: output, exit codes, and one clear line (never a traceback) on bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
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


# -- argument validation (before any run) -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["bench", "--kernel", "relu", "--seed", "-1"], "--seed: must not be negative"),
        (["bench", "--kernel", "relu", "--shape", "h=²"], "shape value 'h=²' must be a positive"),
        (["bench", "--kernel", "conv2d", "--shape", "h=99999,w=99999"], "no board holds"),
        (["bench", "--variants", "ref,ref"], "each variant at most once"),
        (["bench", "--save-baseline", "{tmp}"], "it is a directory"),
        (["bench", "--save-baseline", "/dev/null/base.json"], "cannot write /dev/null/base.json"),
        (["check", "--variants", "ref,opt,opt"], "each variant at most once"),
        (["run", "{hello}", "--max-instructions", str(2**63)], "too large"),
        (["run", "{hello}", "--trace", "/dev/null/t.json"], "no such directory"),
        (["annotate", "{hello}", "main", "--max-instructions", "0"], "must be positive"),
    ],
)
def test_bad_arguments_are_refused_before_running(
    capfd, monkeypatch, elf, tmp_path: Path, args, fragment
):
    def no_run(*_args, **_kwargs):
        raise AssertionError("the benchmark ran before the arguments were checked")

    monkeypatch.setattr("cmsim.cli.run_bench", no_run)
    monkeypatch.setattr("cmsim.cli.bench_kernel", no_run)
    values = {"hello": str(elf("hello")), "tmp": str(tmp_path)}
    code, _, err = run_cli(capfd, *[a.format(**values) for a in args])
    assert code == 2
    assert_one_line_error(err, fragment)


def _baseline(tmp_path: Path, edit) -> str:
    data = json.loads((Path(__file__).parent.parent / "traces/baseline-m4-ideal.json").read_text())
    edit(data)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    return str(path)


def _drop_asm(data):
    for layer in data["layers"]:
        del layer["cycles"]["asm"]


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.update(board="stm32f4"), "made on board 'stm32f4', not 'm4-ideal'"),
        (lambda d: d["layers"].pop(3), "does not hold the layers conv2"),
        (_drop_asm, "no asm cycles for conv1"),
        (lambda d: d["layers"][0]["cycles"].update(ref=-5), "must be a non-negative integer"),
        (lambda d: d["totals"].update(opt="many"), "total opt cycles must be a positive integer"),
        (lambda d: d.update(layers=5), "unreadable baseline"),
    ],
)
def test_check_validates_its_baseline_before_running(
    capfd, monkeypatch, tmp_path: Path, edit, fragment
):
    def no_run(*_args, **_kwargs):
        raise AssertionError("the benchmark ran before the baseline was checked")

    monkeypatch.setattr("cmsim.cli.run_bench", no_run)
    code, _, err = run_cli(capfd, "check", "--baseline", _baseline(tmp_path, edit))
    assert code == 2
    assert_one_line_error(err, fragment)


def test_check_compares_only_the_variants_it_runs(tmp_path: Path):
    from cmsim.bench.baseline import checked_baseline, load_baseline

    path = Path(_baseline(tmp_path, lambda d: None))
    layers = tuple(layer.name for layer in load_baseline(path).layers)
    restricted = checked_baseline(load_baseline(path), path, "m4-ideal", ("ref", "opt"), layers)
    assert restricted.variants == ["ref", "opt"] and set(restricted.totals) == {"ref", "opt"}
    assert all(set(layer.cycles) == {"ref", "opt"} for layer in restricted.layers)


# -- Ctrl-C ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["run"], ["run", "--profile"], ["annotate", "{elf}", "spin_forever"]]
)
def test_ctrl_c_stops_a_spinning_firmware_at_once(elf, command):
    """SIGINT once the firmware runs (its first line shows, on stderr for annotate): exit 130
    within a fraction of a second, one line on stderr."""
    path = str(elf("spin"))
    args = [a.format(elf=path) for a in command]
    if args == command:
        args.insert(1, path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "simulator")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cmsim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    firmware_output = process.stderr if args[0] == "annotate" else process.stdout
    assert firmware_output.readline() == "spinning\n"
    time.sleep(0.2)  # well inside the spin loop
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert time.perf_counter() - sent < 1.0
    assert process.returncode == 130
    assert_one_line_error(err, "interrupted (Ctrl-C) at pc=0x", "in spin_forever")


@pytest.mark.parametrize("board", ["m4-ideal", "stm32f4"])
def test_ctrl_c_with_json_gives_the_results_so_far(capfd, elf, board):
    """A real SIGINT to this process while main() runs: --json prints the partial results."""
    path = str(elf("spin")) if board == "m4-ideal" else str(build_firmware(board) / "spin.elf")
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        code, out, err = run_cli(capfd, "run", path, "--json", "--board", board)
    finally:
        timer.cancel()
    assert code == 130
    assert_one_line_error(err, "interrupted (Ctrl-C)", "in spin_forever")
    data = json.loads(out)
    assert data["exit_code"] == 130 and data["output"] == "spinning\n"
    assert data["cycles"] >= data["instructions"] > 1000
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "handler given back"


def test_profile_and_annotate_mark_functions_without_size(capfd, elf):
    code, out, _ = run_cli(capfd, "run", "--profile", str(elf("nosize")))
    assert code == 0 and "add_loop (no .size)" in out
    code, out, _ = run_cli(capfd, "annotate", str(elf("nosize")), "add_loop")
    assert code == 0 and out.startswith("add_loop (no .size) (0x")
    assert "adds r1, r1, r0" in out
