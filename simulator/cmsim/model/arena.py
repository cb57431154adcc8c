"""Plan the activation arena: one block of SRAM shared by tensors whose lifetimes do not overlap.

A tensor lives from the step that writes it (graph inputs: before the first step) to the
last step that reads it (graph outputs: past the last step). Aliases (RESHAPE and friends)
share their input's buffer, so a group of aliased tensors lives as long as any member.
Buffers are placed largest first at the lowest offset that does not overlap any already
placed buffer with an overlapping lifetime (a greedy first-fit, as TFLite Micro's planner).
"""

from __future__ import annotations

from dataclasses import dataclass

from cmsim.model.graph import Graph
from cmsim.model.lower import Step

ALIGNMENT = 8  # doubles of float tensors, and word-aligned kernel loads


@dataclass(frozen=True)
class Buffer:
    """A placed buffer: the tensors that share it, its lifetime in steps and its bytes."""

    tensors: tuple[int, ...]
    first: int
    last: int
    size: int
    offset: int = 0

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last

    def overlaps_in_space(self, other: Buffer) -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@dataclass(frozen=True)
class Plan:
    """Where every activation tensor lives: tensor index -> byte offset in the arena."""

    offsets: dict[int, int]
    buffers: tuple[Buffer, ...]
    size: int


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def plan_arena(graph: Graph, steps: list[Step]) -> Plan:
    """Place every non-constant tensor the steps touch, and the graph's inputs and outputs."""
    owner: dict[int, int] = {}  # tensor -> the tensor whose buffer it uses
    for step in steps:
        if step.is_alias:
            owner[step.output] = owner.get(step.inputs[0], step.inputs[0])
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(tensor: int, when: int) -> None:
        if tensor < 0 or graph.tensor(tensor).is_constant:
            return
        root = owner.get(tensor, tensor)
        first[root] = min(first.get(root, when), when)
        last[root] = max(last.get(root, when), when)

    for index in graph.inputs:
        touch(index, -1)
    for when, step in enumerate(steps):
        for tensor in step.inputs:
            touch(tensor, when)
        touch(step.output, when)
    for index in graph.outputs:
        touch(index, len(steps))
    members: dict[int, list[int]] = {root: [root] for root in first}
    for tensor, root in owner.items():
        members.setdefault(root, [root]).append(tensor)
    buffers = [
        Buffer(tuple(members[r]), first[r], last[r], _align(graph.tensor(r).nbytes)) for r in first
    ]
    placed = _place(sorted(buffers, key=lambda b: (-b.size, b.first, b.tensors)))
    offsets = {t: b.offset for b in placed for t in b.tensors}
    size = max((b.offset + b.size for b in placed), default=0)
    return Plan(offsets, tuple(placed), size)


def _place(buffers: list[Buffer]) -> list[Buffer]:
    placed: list[Buffer] = []
    for buffer in buffers:
        live = sorted((b for b in placed if b.overlaps_in_time(buffer)), key=lambda b: b.offset)
        offset = 0
        for other in live:
            if offset + buffer.size <= other.offset:
                break
            offset = max(offset, _align(other.offset + other.size))
        placed.append(Buffer(buffer.tensors, buffer.first, buffer.last, buffer.size, offset))
    return placed
