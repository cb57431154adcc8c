"""Exporters (Chrome trace, collapsed stacks, JSON, CSV) and the profiling command line."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from cmsim.board import load_board
from cmsim.cli import main
from cmsim.engine import Engine
from cmsim.image import load_image
from cmsim.machine import Machine
from cmsim.profile import Profile, Profiler
from cmsim.trace import (
    chrome_trace,
    collapsed_lines,
    profile_summary,
    write_chrome_trace,
    write_collapsed,
    write_profile_csv,
    write_profile_json,
)

COLLAPSED_LINE = re.compile(r"^[^;\n]+(;[^;\n]+)* \d+$")


def recorded_profile(path: Path, min_event_cycles: int = 0) -> Profile:
    machine = Machine(load_image(path), load_board("m4-ideal"), stdout=io.BytesIO())
    engine = Engine(machine)
    profiler = Profiler.attach(engine, record_events=True, min_event_cycles=min_event_cycles)
    return profiler.finish(engine.run())


def assert_valid_chrome_trace(document: dict, clock_hz: int) -> list[dict]:
    """Every event well formed; complete events nest properly per thread. Returns X events."""
    assert "traceEvents" in document
    complete = []
    for event in document["traceEvents"]:
        for key in ("ph", "ts", "dur", "name", "pid", "tid"):
            assert key in event, (key, event)
        assert event["ph"] in ("X", "M")
        if event["ph"] == "X":
            assert event["dur"] >= 0 and event["ts"] >= 0
            assert isinstance(event["args"]["cycles"], int)
            complete.append(event)
    # Nesting, in integer nanoseconds as the exporter rounds them: a child starts at or after
    # its parent and ends at or before it; siblings do not overlap.
    by_thread: dict[tuple[int, int], list[dict]] = {}
    for event in complete:
        by_thread.setdefault((event["pid"], event["tid"]), []).append(event)
    for events in by_thread.values():
        open_ends: list[int] = []
        previous_start = -1
        for event in events:  # the file order: by start, parents first
            start = round(event["ts"] * 1000)
            end = start + round(event["dur"] * 1000)
            assert start >= previous_start, "events are not sorted by start"
            previous_start = start
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            if open_ends:
                assert end <= open_ends[-1], f"{event['name']} overlaps its parent's end"
            open_ends.append(end)
    return complete


@pytest.mark.parametrize(
    "name", ["calls_graph", "calls_recursion", "calls_regions", "calls_compute"]
)
def test_chrome_trace_is_valid_and_complete(elf, name):
    profile = recorded_profile(elf(name))
    document = json.loads(json.dumps(chrome_trace(profile)))
    complete = assert_valid_chrome_trace(document, profile.clock_hz)
    core = [e for e in complete if e["tid"] == 1]
    # One event per frame: calls, tail calls and the root (re-entries into a tail chain do not
    # open a frame; calls_recursion has one).
    frames = sum(f.calls for f in profile.functions) - (1 if name == "calls_recursion" else 0)
    assert len(core) == frames
    root = core[0]
    assert root["args"]["cycles"] == profile.total_cycles
    assert root["dur"] == pytest.approx(profile.total_cycles / profile.clock_hz * 1e6, abs=1e-3)
    for event in core:
        cycles = event["args"]["cycles"]
        assert event["dur"] == pytest.approx(cycles * 1e6 / profile.clock_hz, abs=2e-3)
    regions = [e for e in complete if e["tid"] == 2]
    assert len(regions) == sum(r.count for r in profile.regions)


def test_trace_min_cycles_keeps_only_long_calls(elf, tmp_path):
    full = recorded_profile(elf("calls_compute"))
    threshold = 1000
    filtered = recorded_profile(elf("calls_compute"), min_event_cycles=threshold)
    expected = [e for e in full.events if e.end - e.start >= threshold]
    assert filtered.events == expected
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    write_chrome_trace(filtered, small, min_cycles=threshold)
    write_chrome_trace(full, large)
    document = json.loads(small.read_text())
    complete = assert_valid_chrome_trace(document, full.clock_hz)
    assert all(e["args"]["cycles"] >= threshold for e in complete)
    assert small.stat().st_size * 20 < large.stat().st_size
    # Filtering at export time gives the same events as filtering while recording.
    assert chrome_trace(full, min_cycles=threshold)["traceEvents"] == document["traceEvents"]


def test_collapsed_stacks_sum_to_the_total(elf, tmp_path):
    for name in ("calls_graph", "calls_recursion", "calls_regions", "calls_compute", "hello"):
        profile = recorded_profile(elf(name))
        lines = collapsed_lines(profile)
        assert all(COLLAPSED_LINE.match(line) for line in lines), lines
        assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == profile.total_cycles
        out = tmp_path / f"{name}.txt"
        write_collapsed(profile, out)
        assert out.read_text().splitlines() == lines


def test_collapsed_stacks_of_the_known_graph(elf):
    profile = recorded_profile(elf("calls_graph"))
    stacks = dict(line.rsplit(" ", 1) for line in collapsed_lines(profile))
    assert (
        int(stacks["Reset_Handler;main;caller_b;leaf"]) == profile.edge("caller_b", "leaf").cycles
    )
    assert (
        int(stacks["Reset_Handler;main;tail_caller;tail_target"])
        == profile.function("tail_target").exclusive_cycles
    )
    leaf = profile.function("leaf").exclusive_cycles
    assert (
        int(stacks["Reset_Handler;main;caller_a;leaf"])
        + int(stacks["Reset_Handler;main;caller_b;leaf"])
        == leaf
    )


def test_profile_json_and_csv(elf, tmp_path):
    profile = recorded_profile(elf("calls_regions"))
    json_path, csv_path = tmp_path / "p.json", tmp_path / "p.csv"
    write_profile_json(profile, json_path)
    write_profile_csv(profile, csv_path)
    data = json.loads(json_path.read_text())
    assert data == json.loads(json.dumps(profile_summary(profile)))
    assert data["total_cycles"] == profile.total_cycles
    assert sum(f["exclusive_cycles"] for f in data["functions"]) == profile.total_cycles
    assert [f["function"] for f in data["functions"]] == [f.name for f in profile.functions]
    assert {r["name"]: r["count"] for r in data["regions"]} == {"outer": 1, "inner": 1}
    assert {(e["caller"], e["callee"]) for e in data["edges"]} >= {("main", "work")}
    with csv_path.open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["function"] for row in rows] == [f.name for f in profile.functions]
    assert sum(int(row["exclusive_cycles"]) for row in rows) == profile.total_cycles
    work = next(row for row in rows if row["function"] == "work")
    assert (int(work["calls"]), int(work["instructions"])) == (2, 44)


# -- the command line ----------------------------------------------------------------------


def run_cli(capfd, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def table_rows(out: str, title: str) -> list[list[str]]:
    """The cells of the rich table titled `title...`: the lines after its header rule."""
    lines = out[out.index(title) :].splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"─"})
    rows = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_run_profile_prints_the_table_sorted_by_exclusive_cycles(capfd, elf):
    code, out, err = run_cli(capfd, "run", str(elf("calls_compute")), "--profile", "--top", "3")
    assert code == 0 and err == ""
    assert out.startswith("checksum 0x")
    assert "cycles" in out and "exit code" in out  # the run summary is still there
    assert "profile: 3 of 10 functions" in out
    assert [row[0] for row in table_rows(out, "profile:")] == ["dot", "conv3x3", "main"]
    assert all(len(line) <= 80 for line in out.splitlines())
    regions = table_rows(out, "regions")
    assert [row[:2] for row in regions] == [["conv", "1"], ["fc", "1"]]


def test_run_writes_every_output(capfd, elf, tmp_path):
    files = {
        flag: tmp_path / name
        for flag, name in (
            ("--trace", "t.json"),
            ("--collapsed", "c.txt"),
            ("--profile-json", "p.json"),
            ("--profile-csv", "p.csv"),
        )
    }
    args = [arg for flag, path in files.items() for arg in (flag, str(path))]
    code, out, err = run_cli(
        capfd, "run", str(elf("calls_graph")), *args, "--trace-min-cycles", "5"
    )
    assert code == 0 and err == ""
    assert "profile:" not in out  # files only, no table without --profile
    trace = json.loads(files["--trace"].read_text())
    complete = assert_valid_chrome_trace(trace, 168_000_000)
    assert complete and all(e["args"]["cycles"] >= 5 for e in complete)
    assert trace["otherData"]["min_cycles"] == 5
    lines = files["--collapsed"].read_text().splitlines()
    assert (
        sum(int(line.rsplit(" ", 1)[1]) for line in lines)
        == json.loads(files["--profile-json"].read_text())["total_cycles"]
    )
    assert files["--profile-csv"].read_text().startswith("function,address,calls,")


def test_run_json_includes_the_profile(capfd, elf):
    code, out, _ = run_cli(capfd, "run", str(elf("calls_graph")), "--json", "--profile")
    data = json.loads(out)
    assert code == 0
    assert sum(f["exclusive_cycles"] for f in data["profile"]["functions"]) == data["cycles"]


def test_profile_of_a_run_stopped_by_the_limit(capfd, elf, tmp_path):
    collapsed = tmp_path / "c.txt"
    code, out, err = run_cli(
        capfd,
        "run",
        str(elf("spin")),
        "--max-instructions",
        "10000",
        "--profile",
        "--collapsed",
        str(collapsed),
    )
    assert code == 124
    assert err.startswith("cmsim: error: firmware did not exit") and len(err.splitlines()) == 1
    assert table_rows(out, "profile:")[0][0] == "spin_forever"
    lines = collapsed.read_text().splitlines()
    assert any(line.startswith("Reset_Handler;main;spin_forever ") for line in lines)


def test_unwritable_output_fails_before_running(capfd, elf, tmp_path):
    missing = tmp_path / "no" / "such" / "t.json"
    code, out, err = run_cli(capfd, "run", str(elf("hello")), "--trace", str(missing))
    assert code == 2 and out == ""
    assert err.startswith("cmsim: error: cannot write") and len(err.strip().splitlines()) == 1


def test_annotate_prints_counts_and_cycles(capfd, elf):
    code, out, err = run_cli(capfd, "annotate", str(elf("calls_graph")), "leaf")
    assert code == 0 and err == ""
    assert "leaf (0x" in out and "3 calls" in out
    rows = table_rows(out, "leaf (0x")
    counts = [row[1] for row in rows if re.fullmatch("[0-9a-f]{8}", row[0])]  # not reason lines
    assert counts == ["3", "9", "9", "3"]
    assert "subs r0, #1" in out and "bx lr" in out
    assert "called from: caller_b (2x, " in out and "caller_a (1x, " in out
    code, out, err = run_cli(capfd, "annotate", str(elf("calls_graph")), "leaf", "--width", "80")
    assert all(len(line) <= 80 for line in out.splitlines())


def test_annotate_json_and_unknown_function(capfd, elf):
    code, out, _ = run_cli(capfd, "annotate", str(elf("calls_graph")), "leaf", "--json")
    data = json.loads(out)
    assert code == 0 and data["function"] == "leaf" and data["calls"] == 3
    assert sum(i["count"] for i in data["instructions"]) == 24
    assert sum(i["cycles"] for i in data["instructions"]) == data["exclusive_cycles"]
    assert {c["function"]: c["calls"] for c in data["callers"]} == {"caller_a": 1, "caller_b": 2}
    assert data["callees"] == []
    code, out, err = run_cli(capfd, "annotate", str(elf("calls_graph")), "leef")
    assert code == 2
    assert err.strip() == "cmsim: error: calls_graph.elf: no function 'leef' (did you mean leaf?)"
