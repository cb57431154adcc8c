"""Progress on stderr for long runs (only on a terminal, never with --json) and tables at their
natural width when stdout is not a terminal."""

from __future__ import annotations

import json

from conftest import build_firmware
from test_trace import run_cli

from cmsim import progress
from cmsim.progress import status, stderr_is_terminal


def test_status_line():
    assert status("x.elf", 12_345_678, 18_000_000, 0.5) == (
        "x.elf: 12.3 M instructions, 18.0 M cycles, 24.7 M instr/s"
    )


def test_a_pipe_is_not_a_terminal(tmp_path):
    with open(tmp_path / "f", "w") as stream:
        assert not stderr_is_terminal(stream)


def test_progress_on_a_terminal_only_and_never_with_json(capfd, monkeypatch):
    elf = str(build_firmware("m4-ideal") / "cifar10_opt.elf")
    monkeypatch.setattr(progress, "DELAY", 0.0)
    code, out, err = run_cli(capfd, "run", elf)  # stderr is a pipe here: nothing
    assert code == 0 and "instr/s" not in err
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda stream=None: True)
    code, out, err = run_cli(capfd, "run", elf)
    assert code == 0
    assert "cifar10_opt.elf: " in err and " M instructions, " in err and " M instr/s" in err
    assert "M instructions" not in out  # the summary table says "instructions" alone
    code, out, err = run_cli(capfd, "run", elf, "--json")
    assert code == 0 and "instr/s" not in err
    assert json.loads(out)["instructions"] > 0
    code, out, err = run_cli(capfd, "annotate", elf, "put_run", "--quiet")
    assert code == 0 and "cifar10_opt.elf (put_run): " in err


def test_tables_keep_their_natural_width_in_a_pipe(capfd, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    elf = str(build_firmware("m4-ideal") / "calls_compute.elf")
    code, out, _ = run_cli(capfd, "annotate", elf, "dot")
    assert code == 0
    branch = next(line for line in out.splitlines() if "bne #" in line)
    # one line per instruction, the reasons in their column (a terminal of 80 would fold them)
    assert "branch refill +0.77 (M4-BR-1)" in branch and "not-taken bubble" in branch
    assert max(len(line) for line in out.splitlines()) > 80
    code, out, _ = run_cli(capfd, "annotate", elf, "dot", "--width", "80")
    assert all(len(line) <= 80 for line in out.splitlines())
    code, out, _ = run_cli(capfd, "run", elf, "--profile")
    header = next(line for line in out.splitlines() if "function" in line and "calls" in line)
    assert header.rstrip().endswith("CPI")  # not cut at 80 columns
