"""The model's MemStats deltas against real Go 1.24.3 for the same allocations.

For each case the real program (gomem.oracle.allocstats, GOGC=off,
GOMAXPROCS=1) and a fresh model runtime allocate COUNT objects of the same
size and pointer shape, keeping all of them, and compare the deltas of
ReadMemStats: HeapAlloc, HeapObjects, Mallocs, Frees, TotalAlloc and the
BySize counts exactly; HeapInuse within one span of the class, because the
real process starts with partly used spans left by its start-up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gomem.oracle.allocstats import DEFAULT_CASES, AllocCase, AllocDeltas, measure
from gomem.runtime.msize import explain
from gomem.runtime.runtime import Runtime
from gomem.runtime.type import UINT8, Type, array_of, pointer, struct_of

pytestmark = pytest.mark.oracle

BYTE_PTR = pointer(UINT8)

CASES = (
    *DEFAULT_CASES,
    AllocCase("noscan", 1, 1000),
    AllocCase("noscan", 4, 777),
    AllocCase("noscan", 16, 3000),
    AllocCase("ptrfirst", 8, 5000),
    AllocCase("ptrfirst", 24, 4000),
    AllocCase("allptr", 520, 500),
    AllocCase("noscan", 32760, 20),
    AllocCase("noscan", 32768, 20),
)


def shape_type(case: AllocCase) -> Type:
    """The same type the Go program builds with reflect for this shape."""
    n = case.size
    if case.shape == "noscan":
        return array_of(UINT8, n)
    if case.shape == "allptr":
        return array_of(BYTE_PTR, n // 8)
    if case.shape == "ptrfirst":
        if n == 8:
            return struct_of(("P", BYTE_PTR))
        return struct_of(("P", BYTE_PTR), ("Pad", array_of(UINT8, n - 8)))
    if case.shape == "ptrlast":
        return struct_of(("Pad", array_of(UINT8, n - 8)), ("P", BYTE_PTR))
    raise AssertionError(case.shape)


def model_deltas(case: AllocCase) -> dict[str, int]:
    rt = Runtime()
    typ = shape_type(case)
    assert typ.size == case.size
    before = rt.read_mem_stats()
    for _ in range(case.count):
        rt.new(typ)
    after = rt.read_mem_stats()
    rt.check_invariants()
    out = {
        name: getattr(after, name) - getattr(before, name)
        for name in ("HeapAlloc", "HeapObjects", "Mallocs", "Frees", "TotalAlloc", "HeapInuse")
    }
    for b, a in zip(before.BySize, after.BySize, strict=True):
        if a.Mallocs != b.Mallocs:
            out[f"BySize[{a.Size}]"] = a.Mallocs - b.Mallocs
    return out


@pytest.fixture(scope="module")
def real(allocstats_binary: Path) -> dict[AllocCase, AllocDeltas]:
    return dict(zip(CASES, measure(allocstats_binary, CASES), strict=True))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_model_deltas_equal_real_go(case: AllocCase, real: dict[AllocCase, AllocDeltas]) -> None:
    go = real[case]
    model = model_deltas(case)
    for name in ("HeapAlloc", "HeapObjects", "Mallocs", "Frees", "TotalAlloc"):
        assert model[name] == getattr(go, name), name
    go_by_size = {f"BySize[{b.Size}]": b.Mallocs for b in go.BySize if b.Mallocs}
    model_by_size = {k: v for k, v in model.items() if k.startswith("BySize")}
    assert model_by_size == go_by_size
    span = explain(case.size, case.shape != "noscan").span_bytes
    assert abs(model["HeapInuse"] - go.HeapInuse) <= span
