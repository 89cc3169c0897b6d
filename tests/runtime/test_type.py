"""Go type descriptors: layout and pointer bitmaps, by hand and against real Go.

The oracle test builds tests/runtime/testdata/typelayout with the installed
go1.24.3 toolchain; the program prints each type's size, alignment,
PtrBytes and pointer bitmask from the runtime's own type descriptor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gomem.oracle import toolchain
from gomem.runtime.type import (
    BOOL,
    FLOAT64,
    INT,
    INT32,
    INT64,
    INTERFACE,
    STRING,
    UINT8,
    Type,
    array_of,
    map_of,
    pointer,
    slice_of,
    struct_of,
)

NODE = struct_of(
    ("left", pointer(INT)), ("right", pointer(INT)), ("key", INT), ("val", STRING), name="node"
)
MODEL: dict[str, Type] = {
    "bool": BOOL,
    "int": INT,
    "string": STRING,
    "slice_int": slice_of(INT),
    "struct_any": struct_of(("e", INTERFACE)),
    "ptr_int": pointer(INT),
    "map_int_int": map_of(INT, INT),
    "node": NODE,
    "mixed": struct_of(("a", UINT8), ("b", INT64), ("c", UINT8)),
    "tail": struct_of(("n", INT32), ("z", struct_of())),
    "record": struct_of(
        ("id", INT),
        ("name", STRING),
        ("tags", slice_of(STRING)),
        ("extra", INTERFACE),
        ("score", FLOAT64),
    ),
    "array4_ptr": array_of(pointer(INT), 4),
    "array3_string": array_of(STRING, 3),
    "array2_node": array_of(NODE, 2),
    "array5_int": array_of(INT, 5),
}


def mask_string(t: Type) -> str:
    """The bitmask as the Go program prints it: one digit per word up to PtrBytes."""
    if t.ptr_bytes == 0:
        return "-"
    return "".join(str((t.ptrmask >> w) & 1) for w in range(t.ptr_bytes // 8))


@pytest.fixture(scope="module")
def real_layouts(
    tmp_path_factory: pytest.TempPathFactory, gocache: Path
) -> dict[str, tuple[int, int, int, str]]:
    work = tmp_path_factory.mktemp("typelayout")
    shutil.copytree(Path(__file__).parent / "testdata" / "typelayout", work / "src")
    binary = toolchain.build(work / "src", work / "typelayout", gocache)
    result = toolchain.run(binary)
    assert result.returncode == 0, result.stderr
    out = {}
    for line in result.stdout.splitlines():
        name, size, align, ptr_bytes, mask = line.split()
        out[name] = (int(size), int(align), int(ptr_bytes), mask)
    return out


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(MODEL))
def test_layout_and_pointer_mask_match_the_go_runtime(real_layouts, name: str) -> None:
    t = MODEL[name]
    assert (t.size, t.align, t.ptr_bytes, mask_string(t)) == real_layouts[name]


def test_struct_fields_are_aligned_and_the_struct_padded() -> None:
    # a byte at 0, b int64 at 8 (aligned to 8), c byte at 16; size 17 rounded to 8 = 24.
    t = struct_of(("a", UINT8), ("b", INT64), ("c", UINT8))
    assert [off for _, off, _ in t.fields] == [0, 8, 16]
    assert (t.size, t.align, t.noscan) == (24, 8, True)


def test_a_trailing_zero_size_field_gets_a_byte_of_padding() -> None:
    # n int32 at 0..4, z struct{} at 4 (size 0): +1 byte -> 5, rounded to 4 -> 8.
    assert struct_of(("n", INT32), ("z", struct_of())).size == 8
    assert struct_of().size == 0  # an empty struct stays empty


def test_pointer_offsets_of_a_tree_node() -> None:
    # left 0, right 8, key 16, val.data 24 (pointer), val.len 32.
    assert NODE.pointer_offsets() == [0, 8, 24]
    assert (NODE.size, NODE.ptr_bytes) == (40, 32)


def test_a_slice_backing_array_repeats_the_element_mask() -> None:
    # make([]string, 3) allocates [3]string: data words 0, 2, 4 are pointers.
    backing = array_of(STRING, 3)
    assert backing.pointer_offsets() == [0, 16, 32]
    assert backing.ptr_bytes == 40  # the last pointer word ends at 40


def test_pointer_free_types_are_noscan() -> None:
    assert all(t.noscan for t in (BOOL, INT, FLOAT64, array_of(INT, 100)))
    assert not pointer(INT).noscan and not STRING.noscan


def test_negative_array_length_is_refused() -> None:
    with pytest.raises(ValueError):
        array_of(INT, -1)
