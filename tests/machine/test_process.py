"""Processes and the machine: the ELF layout, mmap_base, ASLR, isolation and exit.

Layout facts are Linux's for a non-PIE static binary (load_elf_binary,
arch_pick_mmap_layout) with ASLR off (`setarch -R`): text at 0x400000, the
stack ending at TASK_SIZE = 0x7ffffffff000, mmap_base 128 MiB below it.
"""

from __future__ import annotations

import pytest

from gomem.machine import (
    PROT_READ,
    PROT_WRITE,
    TASK_SIZE,
    ExecutableImage,
    Machine,
    MachineError,
)

PAGE = 4096
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
STACK_TOP = 0x7FFFFFFFF000

# Round sizes so that every address below is a hand calculation:
#   text   1 MiB   at 0x400000 -> 0x500000, file offset 0
#   rodata 512 KiB at 0x500000 -> 0x580000, file offset 0x100000
#   data   64 KiB  at 0x580000 -> 0x590000, file offset 0x180000
#   bss    128 KiB at 0x590000 -> 0x5b0000, anonymous
IMAGE = ExecutableImage(
    path="/opt/test/app",
    text_bytes=0x100000,
    rodata_bytes=0x80000,
    data_bytes=0x10000,
    bss_bytes=0x20000,
    dev=(0xFE, 0x01),
    inode=4242,
)


def parse(maps: str) -> list[tuple[int, int, str, int, str, int, str]]:
    """(start, end, perms, offset, dev, inode, name) per maps line."""
    out = []
    for line in maps.splitlines():
        f = line.split(maxsplit=5)
        lo, hi = f[0].split("-")
        out.append(
            (
                int(lo, 16),
                int(hi, 16),
                f[1],
                int(f[2], 16),
                f[3],
                int(f[4]),
                f[5] if len(f) > 5 else "",
            )
        )
    return out


def test_layout_of_a_new_process_with_aslr_off() -> None:
    p = Machine().spawn("app", IMAGE)
    assert parse(p.maps()) == [
        (0x400000, 0x500000, "r-xp", 0x000000, "fe:01", 4242, "/opt/test/app"),
        (0x500000, 0x580000, "r--p", 0x100000, "fe:01", 4242, "/opt/test/app"),
        (0x580000, 0x590000, "rw-p", 0x180000, "fe:01", 4242, "/opt/test/app"),
        (0x590000, 0x5B0000, "rw-p", 0, "00:00", 0, ""),
        # 132 KiB = 0x21000: 0x7ffffffff000 - 0x21000 = 0x7ffffffde000
        (0x7FFFFFFDE000, STACK_TOP, "rw-p", 0, "00:00", 0, "[stack]"),
    ]


def test_the_first_maps_line_is_the_exact_kernel_text() -> None:
    p = Machine().spawn("app", IMAGE)
    first = p.maps().splitlines()[0]
    # Header, then spaces up to column 73 where the path starts.
    assert first == "00400000-00500000 r-xp 00000000 fe:01 4242" + " " * 31 + "/opt/test/app"
    assert first.index("/opt") == 73


def test_the_default_image_has_the_shape_of_a_static_go_binary() -> None:
    p = Machine().spawn()
    lines = parse(p.maps())
    perms = [(perm, name != "" and name.startswith("/")) for _, _, perm, _, _, _, name in lines]
    # text r-x, rodata r--, data rw- from the file; bss anonymous rw-; then the stack.
    assert perms == [
        ("r-xp", True),
        ("r--p", True),
        ("rw-p", True),
        ("rw-p", False),
        ("rw-p", False),
    ]
    assert lines[0][0] == 0x400000  # non-PIE: Go's default link address
    for (_, end, *_), (start, *_) in zip(lines, lines[1:4], strict=False):
        assert end == start  # the four image segments are contiguous
    assert lines[-1][:2] == (STACK_TOP - 132 * KiB, STACK_TOP)
    assert lines[-1][-1] == "[stack]"


def test_a_pure_go_binary_has_no_heap_line_until_brk_moves() -> None:
    p = Machine().spawn("app", IMAGE)
    assert "[heap]" not in p.maps()
    p.brk(0x5B0000 + PAGE)
    assert "[heap]" in p.maps()


def test_the_stack_starts_with_one_written_page_at_its_top() -> None:
    p = Machine().spawn("app", IMAGE)
    assert p.statistics().rss_anon_kb == 4
    assert p.mm.accesses() == {(STACK_TOP - PAGE) >> 12: (0, 1)}
    assert p.load64(STACK_TOP - PAGE) == 1  # argc of a program run without arguments


def test_mmap_base_is_128_mib_below_the_stack_top_with_aslr_off() -> None:
    p = Machine().spawn("app", IMAGE)
    # arch_pick_mmap_layout: gap = RLIMIT_STACK (8 MiB) + stack_guard_gap (1 MiB)
    # (+ the stack's random range, 0 with ASLR off) = 9 MiB, clamped to at least
    # 128 MiB; mmap_base = 0x7ffffffff000 - 0x8000000 = 0x7ffff7fff000.
    assert p.mm.mmap_base == 0x7FFFF7FFF000
    assert p.mm.mmap_base == TASK_SIZE - 128 * MiB


def test_the_first_mmap_ends_at_mmap_base() -> None:
    p = Machine().spawn("app", IMAGE)
    a = p.mmap(64 * KiB)
    assert a == 0x7FFFF7FFF000 - 64 * KiB
    assert (a, a + 64 * KiB, "rw-p", 0, "00:00", 0, "") in parse(p.maps())


def test_processes_get_pids_from_1000_and_a_comm_of_at_most_15_chars() -> None:
    m = Machine()
    a = m.spawn("first")
    b = m.spawn("a-very-long-command-name")
    assert (a.pid, b.pid) == (1000, 1001)
    assert b.comm == "a-very-long-com"  # TASK_COMM_LEN 16 minus the NUL
    assert set(m.processes) == {1000, 1001}


# -- ASLR -------------------------------------------------------------------


def test_aslr_with_the_same_seed_gives_the_same_layout() -> None:
    m = Machine()
    a = m.spawn("app", IMAGE, aslr=True, seed=7)
    b = m.spawn("app", IMAGE, aslr=True, seed=7)
    assert a.maps() == b.maps()
    assert a.mm.mmap_base == b.mm.mmap_base
    assert a.mmap(PAGE) == b.mmap(PAGE)


@pytest.mark.parametrize(("seed_a", "seed_b"), [(1, 2), (0, 12345)], ids=["1-vs-2", "0-vs-12345"])
def test_aslr_with_different_seeds_gives_different_layouts(seed_a: int, seed_b: int) -> None:
    m = Machine()
    a = m.spawn("app", IMAGE, aslr=True, seed=seed_a)
    b = m.spawn("app", IMAGE, aslr=True, seed=seed_b)
    assert a.maps() != b.maps()
    assert a.mm.mmap_base != b.mm.mmap_base
    assert a.mm.start_brk != b.mm.start_brk


@pytest.mark.parametrize("seed", [0, 1, 99, 2024], ids=lambda s: f"seed-{s}")
def test_aslr_offsets_stay_within_linux_ranges(seed: int) -> None:
    p = Machine().spawn("app", IMAGE, aslr=True, seed=seed)
    lines = parse(p.maps())
    # The image is not randomized (non-PIE): text still at 0x400000.
    assert lines[0][:3] == (0x400000, 0x500000, "r-xp")
    # Stack: up to 22 bits of pages (16 GiB - 4 KiB) below the top, page aligned.
    stack_top = lines[-1][1]
    assert TASK_SIZE - (0x3FFFFF << 12) <= stack_top <= TASK_SIZE
    assert stack_top % PAGE == 0
    # mmap_base: gap = 8 MiB + 1 MiB + 0x3fffff pages, then up to 2^28 pages (1 TiB) lower.
    gap = 8 * MiB + 1 * MiB + (0x3FFFFF << 12)
    assert TASK_SIZE - gap - (1 << 40) < p.mm.mmap_base <= TASK_SIZE - gap
    assert p.mm.mmap_base % PAGE == 0
    # brk: up to 32 MiB above the end of bss.
    assert 0x5B0000 <= p.mm.start_brk < 0x5B0000 + 32 * MiB
    assert p.mm.start_brk % PAGE == 0


def test_aslr_off_ignores_the_seed() -> None:
    m = Machine()
    assert m.spawn("app", IMAGE, seed=1).maps() == m.spawn("app", IMAGE, seed=2).maps()


# -- several processes ------------------------------------------------------


def test_processes_have_separate_memory_at_the_same_address() -> None:
    m = Machine()
    a, b = m.spawn("a", IMAGE), m.spawn("b", IMAGE)
    va = a.mmap(PAGE)
    assert b.mmap(PAGE) == va  # same layout, same placement
    a.store64(va, 111)
    b.store64(va, 222)
    assert (a.load64(va), b.load64(va)) == (111, 222)
    a.store64(0x590000, 1)  # bss
    assert b.load64(0x590000) == 0


def test_machine_invariants_hold_across_several_busy_processes() -> None:
    m = Machine(256 * MiB)
    procs = [m.spawn(f"p{i}", IMAGE, aslr=bool(i % 2), seed=i) for i in range(4)]
    for i, p in enumerate(procs):
        a = p.mmap((i + 1) * 64 * KiB)
        p.touch(a, (i + 1) * 64 * KiB, write=True)
        p.mprotect(a, PAGE, PROT_READ)
        p.munmap(a + PAGE, PAGE)
        p.brk(p.mm.start_brk + 3 * PAGE)
        p.touch(p.mm.start_brk, 3 * PAGE, write=bool(i % 2))
        m.check_invariants()
    # 4 processes x (argv page + 16(i+1) - 1 written pages + heap pages if written).
    expected_rss_pages = sum(1 + 16 * (i + 1) - 1 + (3 if i % 2 else 0) for i in range(4))
    assert sum(p.statistics().rss_anon_kb for p in procs) == 4 * expected_rss_pages
    procs[1].exit()
    m.check_invariants()


def test_exit_of_one_process_leaves_the_others_intact() -> None:
    m = Machine()
    a, b = m.spawn("a", IMAGE), m.spawn("b", IMAGE)
    vb = b.mmap(4 * PAGE)
    b.write(vb, b"survivor")
    a.touch(a.mmap(MiB), MiB, write=True)
    a.exit()
    assert b.read(vb, 8) == b"survivor"
    assert set(m.processes) == {b.pid}
    m.check_invariants()


def test_exit_of_every_process_gives_all_frames_back() -> None:
    m = Machine()
    procs = [m.spawn(f"p{i}", IMAGE) for i in range(3)]
    for p in procs:
        a = p.mmap(2 * MiB, PROT_READ | PROT_WRITE)
        p.touch(a, 2 * MiB, write=True)
        p.brk(p.mm.start_brk + PAGE)
        p.store64(p.mm.start_brk, 5)
        p.store64(STACK_TOP - 1 * MiB, 5)  # grow the stack
    assert m.statistics().used_frames > 3 * 512
    for p in procs:
        p.exit()
    s = m.statistics()
    assert (s.used_frames, s.materialised_frames) == (0, 0)
    assert m.processes == {}
    m.check_invariants()


def test_an_exited_process_can_no_longer_access_memory() -> None:
    m = Machine()
    p = m.spawn("app", IMAGE)
    p.exit()
    with pytest.raises(MachineError):
        p.load64(STACK_TOP - PAGE)
    p.exit()  # a second exit is harmless
    assert m.statistics().used_frames == 0


def test_machine_statistics_count_frames_of_all_processes() -> None:
    m = Machine(1 * GiB)
    assert m.statistics().total_frames == 262144  # 1 GiB / 4 KiB
    m.spawn("a", IMAGE)
    m.spawn("b", IMAGE)
    # Each spawn: PML4 + the stack's PDPT, PD, PT + the argv page = 5 frames.
    assert m.statistics().used_frames == 10
