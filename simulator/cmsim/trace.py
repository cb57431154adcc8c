"""Exporters for a Profile: Chrome trace events, collapsed stacks, JSON summary and CSV.

- Chrome trace event JSON (opens in https://ui.perfetto.dev and chrome://tracing): one
  complete event ("ph": "X") per function call on the "core" track and one per named region
  on the "regions" track; timestamps in microseconds at the board clock, cycles in `args`.
- Collapsed stacks (`main;conv;dot 1234` lines): speedscope and flamegraph.pl read them.
- The profile table as JSON data and as CSV.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from cmsim.profile import Profile

PID = 1
CORE_TID = 1
REGIONS_TID = 2

FUNCTION_COLUMNS = (
    "function",
    "address",
    "calls",
    "exclusive_cycles",
    "exclusive_percent",
    "inclusive_cycles",
    "inclusive_percent",
    "instructions",
    "inclusive_instructions",
    "cycles_per_instruction",
    "sized",
)


def _nanoseconds(cycle: int, clock_hz: int) -> int:
    """Cycle -> integer ns, rounded. Monotonic, so nested calls stay nested after rounding."""
    return (cycle * 1_000_000_000 + clock_hz // 2) // clock_hz


def _microseconds(nanoseconds: int) -> float:
    return nanoseconds / 1000


def chrome_trace(profile: Profile, min_cycles: int = 0, title: str = "cmsim") -> dict[str, Any]:
    """The Chrome trace event document of a profile recorded with `record_events=True`.

    Calls shorter than `min_cycles` are left out (a parent always lasts at least as long as
    its children, so what is left still nests). Events are sorted by start time, parents
    before their children.
    """
    clock = profile.clock_hz
    events: list[dict[str, Any]] = [
        _metadata("process_name", CORE_TID, {"name": title}),
        _metadata("thread_name", CORE_TID, {"name": "core"}),
        _metadata("thread_sort_index", CORE_TID, {"sort_index": 0}),
        _metadata("thread_name", REGIONS_TID, {"name": "regions"}),
        _metadata("thread_sort_index", REGIONS_TID, {"sort_index": 1}),
    ]
    for event in profile.events:
        cycles = event.end - event.start
        if cycles < min_cycles:
            continue
        start_ns = _nanoseconds(event.start, clock)
        end_ns = _nanoseconds(event.end, clock)
        events.append(
            {
                "name": event.name,
                "cat": event.kind,
                "ph": "X",
                "ts": _microseconds(start_ns),
                "dur": _microseconds(end_ns - start_ns),
                "pid": PID,
                "tid": REGIONS_TID if event.kind == "region" else CORE_TID,
                "args": {"cycles": cycles, "start_cycle": event.start, "depth": event.depth},
            }
        )
    return {
        # No "displayTimeUnit": some Perfetto versions read it as the unit of "ts" (which the
        # format defines as microseconds) and would stretch or shrink the whole trace.
        "traceEvents": events,
        "otherData": {
            "generator": "cmsim",
            "title": title,
            "clock_hz": clock,
            "total_cycles": profile.total_cycles,
            "min_cycles": min_cycles,
        },
    }


def _metadata(name: str, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    # ts and dur are not used by metadata events; they are set so every event has them.
    return {"name": name, "ph": "M", "ts": 0, "dur": 0, "pid": PID, "tid": tid, "args": args}


def write_chrome_trace(
    profile: Profile, path: str | Path, min_cycles: int = 0, title: str = "cmsim"
) -> None:
    """Write the Chrome trace JSON of `profile` to `path`."""
    document = chrome_trace(profile, min_cycles, title)
    with open(path, "w") as stream:
        json.dump(document, stream, separators=(",", ":"))


def _frame_name(name: str) -> str:
    """A frame name safe in collapsed-stack syntax (';' separates frames, lines end stacks)."""
    return name.replace(";", "_").replace("\n", " ")


def collapsed_lines(profile: Profile) -> list[str]:
    """Collapsed stacks, `root;...;leaf cycles`, one per distinct stack, sorted by stack.

    The cycles of all lines add up to the run's total cycles.
    """
    lines = [
        ";".join(_frame_name(name) for name in stack) + f" {cycles}"
        for stack, cycles in profile.stacks.items()
        if cycles
    ]
    lines.sort()
    return lines


def write_collapsed(profile: Profile, path: str | Path) -> None:
    """Write collapsed stacks for speedscope / flamegraph.pl."""
    Path(path).write_text("".join(line + "\n" for line in collapsed_lines(profile)))


def function_rows(profile: Profile) -> list[dict[str, Any]]:
    """The profile table as rows (largest exclusive cycles first)."""
    total = profile.total_cycles or 1
    rows = []
    for stats in profile.functions:
        executed = stats.instructions
        per_instruction = stats.exclusive_cycles / executed if executed else None
        rows.append(
            {
                "function": stats.name,
                "address": f"0x{stats.start:08x}" if stats.start is not None else None,
                "calls": stats.calls,
                "exclusive_cycles": stats.exclusive_cycles,
                "exclusive_percent": round(100 * stats.exclusive_cycles / total, 3),
                "inclusive_cycles": stats.inclusive_cycles,
                "inclusive_percent": round(100 * stats.inclusive_cycles / total, 3),
                "instructions": stats.instructions,
                "inclusive_instructions": stats.inclusive_instructions,
                "cycles_per_instruction": (
                    round(per_instruction, 4) if per_instruction is not None else None
                ),
                "sized": stats.sized,  # False: no .size in the ELF, extent inferred
            }
        )
    return rows


def profile_summary(profile: Profile) -> dict[str, Any]:
    """The whole profile as plain data: functions, call graph edges, regions."""
    return {
        "total_cycles": profile.total_cycles,
        "total_instructions": profile.total_instructions,
        "clock_hz": profile.clock_hz,
        "simulated_seconds": profile.total_cycles / profile.clock_hz,
        "functions": function_rows(profile),
        "edges": [
            {
                "caller": e.caller,
                "callee": e.callee,
                "calls": e.calls,
                "tail_calls": e.tail_calls,
                "cycles": e.cycles,
                "instructions": e.instructions,
            }
            for e in profile.edges
        ],
        "regions": [
            {
                "name": r.name,
                "count": r.count,
                "cycles": r.cycles,
                "percent": round(100 * r.cycles / (profile.total_cycles or 1), 3),
            }
            for r in profile.regions
        ],
        "unmatched_region_ends": profile.unmatched_region_ends,
    }


def write_profile_json(profile: Profile, path: str | Path) -> None:
    """Write profile_summary() as JSON."""
    Path(path).write_text(json.dumps(profile_summary(profile), indent=2) + "\n")


def write_profile_csv(profile: Profile, path: str | Path) -> None:
    """Write the function table as CSV (one row per function, header first)."""
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=FUNCTION_COLUMNS)
        writer.writeheader()
        for row in function_rows(profile):
            writer.writerow(row)


__all__ = [
    "chrome_trace",
    "collapsed_lines",
    "function_rows",
    "profile_summary",
    "write_chrome_trace",
    "write_collapsed",
    "write_profile_csv",
    "write_profile_json",
]
