"""The activation arena planner: tensors alive at the same time never share bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cmsim.model.arena import ALIGNMENT, plan_arena
from cmsim.model.graph import Graph, Operator, Quant, Tensor
from cmsim.model.lower import Step, lower
from cmsim.model.tflite import parse_model
from cmsim.model.workloads import build_workload

Q = Quant((0.1,), (0,))


def _graph(
    sizes: list[int], wiring: list[tuple[tuple[int, ...], bool]]
) -> tuple[Graph, list[Step]]:
    """Tensor 0 is the input; step i reads `wiring[i]` inputs and writes tensor i + 1
    (an alias of its first input when the flag is set)."""
    tensors = [Tensor(i, f"t{i}", (size,), "int8", Q) for i, size in enumerate(sizes)]
    steps, ops = [], []
    for i, (inputs, alias) in enumerate(wiring):
        out = i + 1
        if alias:
            tensors[out] = Tensor(out, f"t{out}", tensors[inputs[0]].shape, "int8", Q)
        op = Operator(i, "RESHAPE" if alias else "ADD", inputs, (out,))
        ops.append(op)
        steps.append(Step(op, None if alias else "add", inputs, out))
    return Graph("g", tensors, ops, (0,), (len(sizes) - 1,)), steps


@st.composite
def graphs(draw):
    count = draw(st.integers(1, 14))
    sizes = [draw(st.integers(1, 300)) for _ in range(count + 1)]
    wiring = []
    for i in range(count):
        earlier = list(range(i + 1))
        inputs = tuple(
            draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=2, unique=True))
        )
        wiring.append((inputs, draw(st.booleans()) and len(inputs) == 1))
    return _graph(sizes, wiring)


def _lifetimes(graph: Graph, steps: list[Step], offsets: dict[int, int]):
    """(first, last) step each tensor's bytes must survive, following aliases."""
    root = {}
    for step in steps:
        if step.is_alias:
            root[step.output] = root.get(step.inputs[0], step.inputs[0])
    span: dict[int, list[int]] = {}
    uses = [(t, -1) for t in graph.inputs] + [(t, len(steps)) for t in graph.outputs]
    for when, step in enumerate(steps):
        uses += [(t, when) for t in (*step.inputs, step.output)]
    for tensor, when in uses:
        r = root.get(tensor, tensor)
        lo, hi = span.get(r, [when, when])
        span[r] = [min(lo, when), max(hi, when)]
    return root, span


@settings(max_examples=300, deadline=None, derandomize=True)
@given(case=graphs())
def test_live_tensors_never_overlap(case) -> None:
    graph, steps = case
    plan = plan_arena(graph, steps)
    root, span = _lifetimes(graph, steps, plan.offsets)
    for tensor, offset in plan.offsets.items():
        assert offset % ALIGNMENT == 0
        assert offset + graph.tensor(tensor).nbytes <= plan.size
        if tensor in root:  # an alias shares its input's bytes
            assert offset == plan.offsets[root[tensor]]
    roots = list(span)
    for i, a in enumerate(roots):
        for b in roots[i + 1 :]:
            (a0, a1), (b0, b1) = span[a], span[b]
            if a0 <= b1 and b0 <= a1:
                ra = range(plan.offsets[a], plan.offsets[a] + graph.tensor(a).nbytes)
                rb = range(plan.offsets[b], plan.offsets[b] + graph.tensor(b).nbytes)
                assert not set(ra) & set(rb), f"t{a} and t{b} are alive together and overlap"


def test_a_chain_reuses_memory() -> None:
    """x -> a -> b -> c: the arena holds two tensors at a time, not four."""
    graph, steps = _graph([1000, 1000, 1000, 1000], [((0,), False), ((1,), False), ((2,), False)])
    assert plan_arena(graph, steps).size == 2 * 1000


def test_workload_arena_is_smaller_than_one_buffer_per_tensor() -> None:
    graph = parse_model(build_workload("vww"), "vww")
    steps = lower(graph)
    plan = plan_arena(graph, steps)
    every = sum(graph.tensor(t).nbytes for t in plan.offsets)
    biggest_pair = max(
        graph.tensor(s.inputs[0]).nbytes + graph.tensor(s.output).nbytes for s in steps
    )
    assert biggest_pair <= plan.size < every / 4
