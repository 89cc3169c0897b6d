"""The model's process layout against a real Go 1.24 binary on this kernel.

A static Go program (testdata/selfmaps) prints its own /proc/self/maps and
status, run with ASLR off as `setarch -R` would. The model, given the same
segment sizes, path, device and inode, must print the same lines for the
executable, the same [stack], and put mmap_base where the kernel put the
first mapping (the vdso) — all from Linux's formulas, not from our output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gomem.machine import ExecutableImage, Machine
from gomem.machine.procfs import MapsEntry, parse_maps_line, parse_status
from gomem.oracle import toolchain

pytestmark = pytest.mark.oracle

TESTDATA = Path(__file__).parent / "testdata" / "selfmaps"


@pytest.fixture(scope="module")
def real(
    tmp_path_factory: pytest.TempPathFactory, gocache: Path
) -> tuple[list[MapsEntry], dict[str, int], str]:
    work = tmp_path_factory.mktemp("selfmaps")
    src = work / "src"
    shutil.copytree(TESTDATA, src)
    binary = toolchain.build(src, work / "selfmaps", gocache)
    result = toolchain.run(binary, aslr=False)
    assert result.returncode == 0, result.stderr
    maps_text, _, status_text = result.stdout.partition("--\n")
    lines = maps_text.splitlines()
    return [parse_maps_line(line) for line in lines], parse_status(status_text), maps_text


def test_toolchain_is_the_pinned_go(real: object) -> None:
    assert toolchain.go_version() == "go1.24.3"


def _image_from(entries: list[MapsEntry]) -> ExecutableImage:
    """Segment sizes, path, device and inode of the executable as the kernel shows them."""
    text, rodata, data, bss = entries[:4]
    assert (text.perms, rodata.perms, data.perms, bss.perms) == ("r-xp", "r--p", "rw-p", "rw-p")
    assert bss.name == "" and bss.inode == 0, "bss follows data as an anonymous mapping"
    return ExecutableImage(
        path=text.name,
        text_bytes=text.end - text.start,
        rodata_bytes=rodata.end - rodata.start,
        data_bytes=data.end - data.start,
        bss_bytes=bss.end - bss.start,
        base=text.start,
        dev=(text.dev_major, text.dev_minor),
        inode=text.inode,
    )


def test_executable_lines_match_the_kernel_byte_for_byte(real) -> None:
    entries, _, maps_text = real
    p = Machine().spawn("selfmaps", _image_from(entries))
    model_lines = p.maps().splitlines()
    assert model_lines[:4] == maps_text.splitlines()[:4]


def test_go_binary_starts_at_0x400000(real) -> None:
    entries, _, _ = real
    # Go links non-PIE amd64 executables at 0x400000 (cmd/link's default text address).
    assert entries[0].start == 0x400000
    assert Machine().spawn("app").maps().startswith("00400000-")


def test_stack_line_matches_the_kernel(real) -> None:
    entries, _, _ = real
    (stack,) = [e for e in entries if e.name == "[stack]"]
    # With ASLR off the stack ends at TASK_SIZE = 2**47 - 4096 = 0x7ffffffff000 and the
    # kernel leaves 128 KiB + the argument page: 0x21000 bytes.
    assert (stack.start, stack.end) == (0x7FFFFFFFF000 - 0x21000, 0x7FFFFFFFF000)
    model = [
        line for line in Machine().spawn("app").maps().splitlines() if line.endswith("[stack]")
    ]
    assert model == [stack.format()]


def test_first_mapping_sits_at_mmap_base(real) -> None:
    entries, _, _ = real
    # arch_pick_mmap_layout: gap = max(8 MiB rlimit + 1 MiB guard, 128 MiB) = 128 MiB, so
    # mmap_base = 0x7ffffffff000 - 0x8000000 = 0x7ffff7fff000. The kernel maps the vdso
    # first, top-down from there, so the highest mapping below the stack ends at it.
    below_stack = [e for e in entries if e.end <= 0x7FFFFFFFF000 and e.name != "[stack]"]
    assert max(e.end for e in below_stack) == 0x7FFFF7FFF000
    p = Machine().spawn("app")
    assert p.mm.mmap_base == 0x7FFFF7FFF000
    assert p.mmap(8192) + 8192 == 0x7FFFF7FFF000


def test_pure_go_binary_has_no_heap_line(real) -> None:
    entries, _, _ = real
    # Go never calls brk, so the kernel never names a VMA [heap].
    assert all(e.name != "[heap]" for e in entries)
    assert "[heap]" not in Machine().spawn("app", _image_from(entries)).maps()


def test_status_figures_the_layout_determines(real) -> None:
    entries, status, _ = real
    s = Machine().spawn("app", _image_from(entries)).statistics()
    # VmExe is the text segment; VmStk the 132 KiB stack.
    assert s.vm_exe_kb == status["VmExe"] == (entries[0].end - entries[0].start) // 1024
    assert s.vm_stk_kb == status["VmStk"] == 132


def test_runtime_heap_and_metadata_mappings_match_a_real_go_process(real) -> None:
    """The heap arena, the arena map and the page allocator's reservations, line for line.

    A real Go process maps, before main runs: the first 4 MiB chunk of the arena at the
    hint 0xc000000000 read/write and the rest of the 64 MiB arena PROT_NONE; the 32 MiB
    arena map (2^22 pointers) and a 1 MiB block of the page allocator's chunk map (one
    33 MiB rw-p line, as Linux merges them); and the PROT_NONE reservations of the five
    summary levels and of the scavenge index, with the pieces covering the first arena
    mapped read/write. All of it is placed by Linux's top-down, THP-aligned mmap, so the
    model must reproduce every address: each model line in the window is a real line, and
    every real line of 2 MiB or more is in the model. Smaller real mappings (stacks, more
    256 KiB persistentalloc chunks) come from parts of the runtime not modelled yet.
    """
    from gomem.runtime.runtime import Runtime

    entries, _, _ = real
    window = (0xC000000000, 0x7FFFF7E00000)
    real_lines = [e.format() for e in entries if window[0] <= e.start and e.end <= window[1]]
    big = [e.format() for e in entries if e.format() in real_lines and e.end - e.start >= 2 << 20]
    rt = Runtime(Machine().spawn("app", _image_from(entries)))
    rt.mallocgc(64)  # the first allocation grows the heap, as the runtime's start-up does
    got = [
        line
        for line in rt.process.maps().splitlines()
        if window[0] <= int(line.split("-")[0], 16)
        and int(line.split("-")[1].split()[0], 16) <= window[1]
    ]
    assert len(got) >= 10
    assert [line for line in got if line not in real_lines] == []
    assert [line for line in big if line not in got] == []
