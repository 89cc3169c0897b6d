"""`gomem alloc demo` and `gomem malloc run --policy go`.

Expected placements are Go facts: the first arena at the hint 0xc000000000
(arena index (0xc000000000 + 2^47) >> 26 = 0x203000), size class 20 for
300 bytes (span class 20 << 1 | 1 = 41), the 8-byte malloc header of a
pointerful object over 512 bytes, and a large object's span of
ceil(40000 / 8192) = 5 pages with span class 0 << 1 | 1 = 1.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = 8


def test_alloc_demo_json_places_each_kind(gomem) -> None:
    r = gomem("alloc", "demo", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    rows = {o["request"]: o for o in data["objects"]}
    tiny8, tiny4 = rows["new([8]byte)"], rows["new([4]byte)"]
    assert tiny8["address"] == 0xC000000000 and tiny8["arena"] == 0x203000
    assert tiny4["address"] == tiny8["address"] + 8  # 4-byte object: 4-aligned after 8 bytes
    assert (rows["new([300]byte)"]["span_class"], rows["new([300]byte)"]["elem_size"]) == (41, 320)
    header = rows["new([125]*int)"]  # 1000 B + 8 B header = 1008 -> class 32 (1024 B), scan
    assert (header["span_class"], header["offset_in_slot"]) == (64, 8)
    # The header names only the element type; the collector repeats it to the slot's end
    # (typePointers.next with limit = slot + elemsize), because a header object may be an
    # array of it. So words 125 and 126 (offsets 1000, 1008: the slot's 16 unused bytes
    # after the 8-byte header and 1000-byte object) are scanned too; they are zero.
    assert header["pointer_words"] == [WORDS * i for i in range(127)]
    node = rows["new(Node)"]  # struct{next *int; id int; prev *int}: pointers at 0 and 16
    assert node["pointer_words"] == [0, 16]
    assert node["nelems"] == (8192 - 128) // 24  # heap bits take the span's last 128 bytes
    large = rows["new([40000]byte)"]
    assert (large["span_pages"], large["span_class"], large["offset_in_slot"]) == (5, 1, 0)
    assert data["heap_mappings"][0].startswith("c000000000-c000400000 rw-p")
    assert data["after"]["vsz_kb"] - data["before"]["vsz_kb"] >= 64 * 1024


def test_alloc_demo_text_shows_the_bitmap_and_rss(gomem) -> None:
    r = gomem("alloc", "demo")
    assert r.code == 0, r.err
    assert "#........................" in r.out  # one of 25 slots of the 320-byte span used
    assert "no [heap] line" in r.out
    # RSS before: the stack page the kernel wrote argc into (4 kB). The demo writes three
    # more pages: the new tiny block's two words, the Node span's heap bits (its last 128
    # bytes) and the [125]*int object's malloc header; the noscan objects stay untouched.
    assert "RSS 4 kB -> 16 kB" in r.out


def _trace(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "t.rep"
    p.write_text(text)
    return p


def test_malloc_run_policy_go_utilisation_is_peak_payload_over_peak_heapinuse(
    gomem, tmp_path: Path
) -> None:
    # 25 x 300 B fill one 8 KiB span of class 20 exactly (25 x 320 = 8000 B): peak payload
    # 7,500 B over one span of 8,192 B = 91.55%. Freeing them all does not change the peaks.
    ops = [f"a {i} 300" for i in range(25)] + [f"f {i}" for i in range(25)]
    trace = _trace(tmp_path, f"0\n25\n{len(ops)}\n1\n" + "\n".join(ops) + "\n")
    r = gomem("malloc", "run", trace, "--policy", "go", "--json", "--check")
    assert r.code == 0, r.err
    (t,) = json.loads(r.out)["traces"]
    assert (t["peak_payload"], t["peak_heap_inuse"]) == (7500, 8192)
    assert abs(t["util"] - 7500 / 8192) < 1e-12
    assert json.loads(r.out)["utilisation"] == "peak live payload / peak HeapInuse"


def test_malloc_run_policy_go_realloc_keeps_the_payload(gomem, tmp_path: Path) -> None:
    ops = ["a 0 100", "a 1 40000", "r 0 5000", "r 1 10", "f 0", "f 1"]
    trace = _trace(tmp_path, f"0\n2\n{len(ops)}\n1\n" + "\n".join(ops) + "\n")
    r = gomem("malloc", "run", trace, "--policy", "go", "--check")
    assert r.code == 0, r.err
    assert "peak live payload / peak HeapInuse" in r.out


def test_malloc_run_policy_go_bad_trace_is_one_line(gomem, tmp_path: Path) -> None:
    trace = _trace(tmp_path, "0\n1\n1\n1\nf 0\n")
    gomem("malloc", "run", trace, "--policy", "go").assert_one_line_error()
