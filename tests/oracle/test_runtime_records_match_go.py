"""Runtime records and goroutine costs against a real go1.24.3 binary.

structsizes reads its own DWARF and prints the byte size of runtime.g,
mspan, mcache and heapArena: the model's metadata sizes (which feed
MSpanInuse, MCacheInuse, GCSys and the g record's size class) must equal
them. goroutines starts N goroutines that block, under GOGC=off and one
P, and reports MemStats deltas: each new goroutine costs one g record in
size class 448 and a 2 KiB stack from 32 KiB stack spans, in the model as
in Go. (Real Go also allocates a sudog per blocked goroutine and grows
allgs; the model has no channels and no system goroutines, so only the
g records and the stacks are compared.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gomem.oracle import toolchain
from gomem.runtime.mheap import SIZEOF_HEAP_ARENA, SIZEOF_MCACHE, SIZEOF_MSPAN
from gomem.runtime.msize import size_to_class
from gomem.runtime.proc import SIZEOF_G
from gomem.runtime.runtime import Runtime
from gomem.runtime.sizeclasses import CLASS_TO_SIZE

pytestmark = pytest.mark.oracle

TESTDATA = Path(__file__).parent / "testdata"


def _build(name: str, gocache: Path, work: Path) -> Path:
    src = work / "src"
    shutil.copytree(TESTDATA / name, src)
    return toolchain.build(src, work / name, gocache)


@pytest.fixture(scope="module")
def sizes(gocache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    binary = _build("structsizes", gocache, tmp_path_factory.mktemp("structsizes"))
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    return {name: int(size) for name, size in (line.split() for line in out.splitlines())}


def test_metadata_record_sizes_equal_go_dwarf(sizes: dict[str, int]) -> None:
    assert sizes["runtime.mspan"] == SIZEOF_MSPAN == 160
    assert sizes["runtime.mcache"] == SIZEOF_MCACHE == 1208
    assert sizes["runtime.heapArena"] == SIZEOF_HEAP_ARENA == 68624
    assert sizes["runtime.g"] == SIZEOF_G == 440


def test_g_record_lands_in_class_448(sizes: dict[str, int]) -> None:
    assert CLASS_TO_SIZE[size_to_class(sizes["runtime.g"])] == 448


@pytest.fixture(scope="module")
def goroutines_binary(gocache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("goroutines", gocache, tmp_path_factory.mktemp("goroutines"))


def _real(binary: Path, n: int) -> tuple[dict[str, int], dict[int, int]]:
    env = {**os.environ, "GOGC": "off", "GOMAXPROCS": "1"}
    env.pop("GODEBUG", None)
    out = subprocess.run(
        [str(binary), str(n)], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()
    deltas = json.loads(out[0])
    by_size = {}
    for line in out[1:]:
        size, count = line.removeprefix("class ").split(":")
        by_size[int(size)] = int(count)
    return deltas, by_size


def _model(n: int) -> tuple[int, int]:
    """(g records in class 448, StackInuse delta) of n new goroutines in the model."""
    rt = Runtime()
    before = rt.read_mem_stats()
    for i in range(n):
        rt.newproc(f"park{i}", lambda g: None)
    after = rt.read_mem_stats()
    cls = size_to_class(SIZEOF_G)
    return (
        after.BySize[cls].Mallocs - before.BySize[cls].Mallocs,
        after.StackInuse - before.StackInuse,
    )


@pytest.mark.parametrize("n", [100, 1000, 3000])
def test_each_goroutine_costs_a_g_record_and_a_2kib_stack(goroutines_binary: Path, n: int) -> None:
    real, real_by_size = _real(goroutines_binary, n)
    g_records, stack_inuse = _model(n)
    assert real_by_size[448] == g_records == n
    # n stacks of 2 KiB come from 32 KiB spans: about n / 16 spans, give or take the
    # stacks already free in the P's cache and the pool when the count starts.
    span = 32 * 1024
    assert abs(real["StackInuse"] - n * 2048) <= span
    assert abs(stack_inuse - real["StackInuse"]) <= span
