"""The `gomem` command line, run in-process through `gomem.cli.main.main(argv)`.

A few runs go through a real subprocess (`python -m gomem.cli.main`) to see
the real exit code and stderr. Expected figures come from x86-64 Linux facts
and hand calculations, shown in comments:

* 4 KiB pages; a virtual address splits into 9-bit indexes at bits 47..39
  (PML4), 38..30 (PDPT), 29..21 (PD), 20..12 (PT) and a 12-bit offset.
* User space ends at TASK_SIZE = (1 << 47) - 4096 = 0x7ffffffff000; with ASLR
  off the stack VMA ends exactly there.
* A Go binary for linux/amd64 is statically linked, non-PIE, with its text at
  0x400000, and Go never calls brk, so maps has no [heap] line.
* PTE bits: P 0x1, RW 0x2, US 0x4, A 0x20, D 0x40.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gomem.cli.main import main
from gomem.machine.procfs import STATUS_MEMORY_FIELDS, parse_maps_line

TASK_SIZE = (1 << 47) - 4096  # 0x7ffffffff000
assert TASK_SIZE == 0x7FFFFFFFF000

PTE_P, PTE_RW, PTE_US, PTE_A, PTE_D = 0x1, 0x2, 0x4, 0x20, 0x40


def assert_one_line_error(r) -> None:
    r.assert_one_line_error()


# -- --version and --help ------------------------------------------------------


def test_version_prints_the_package_version(gomem) -> None:
    r = gomem("--version")
    # pyproject.toml: version = "0.1.0"
    assert (r.code, r.out, r.err) == (0, "gomem 0.1.0\n", "")


HELP_COMMANDS = [
    (),
    ("vm",),
    ("vm", "demo"),
    ("vm", "walk"),
    ("vm", "maps"),
    ("vm", "status"),
    ("probe",),
    ("probe", "demand-paging"),
]


@pytest.mark.parametrize(
    "command", HELP_COMMANDS, ids=[" ".join(("gomem", *c)) for c in HELP_COMMANDS]
)
def test_help_prints_usage_of_that_command_and_exits_0(gomem, command: tuple[str, ...]) -> None:
    r = gomem(*command, "--help")
    assert r.code == 0
    assert r.err == ""
    assert r.out.startswith("usage: " + " ".join(("gomem", *command)))
    assert "options:" in r.out


# -- bad input -------------------------------------------------------------------

# (argv, something of the user's input (or the missing argument) the one line must name)
BAD_INPUT = [
    ("vm walk not-an-address", "not-an-address"),
    ("vm walk 0xZZ", "0xZZ"),
    ("vm walk", "ADDRESS"),
    ("vm demo --size 12x", "12x"),
    ("vm demo --size 4097", "4097"),  # not a multiple of 8192 (two pages)
    ("probe demand-paging --size 0", "--size"),
    ("nosuchcommand", "nosuchcommand"),
    ("vm", "SUBCOMMAND"),
    ("vm walk 0x1 --touch sideways", "sideways"),
]
BAD_INPUT_IDS = [
    "address-not-a-number",
    "address-bad-hex",
    "address-missing",
    "size-bad-suffix",
    "size-not-two-pages",
    "probe-size-zero",
    "unknown-command",
    "vm-without-subcommand",
    "touch-bad-choice",
]


@pytest.mark.parametrize(("argv", "named"), BAD_INPUT, ids=BAD_INPUT_IDS)
def test_bad_input_is_one_line_on_stderr_and_exit_2(gomem, argv: str, named: str) -> None:
    r = gomem(*argv.split())
    assert_one_line_error(r)
    assert r.err.startswith("gomem")
    assert named in r.err


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        ("vm walk 0xZZ", "gomem vm walk: error: "),
        ("vm demo --size 12x", "gomem vm demo: error: "),
        ("vm demo --size 4097", "gomem vm demo: error: "),
        ("probe demand-paging --size 0", "gomem probe demand-paging: error: "),
    ],
    ids=["argparse-walk", "argparse-demo", "badinput-demo", "badinput-probe"],
)
def test_error_line_names_the_full_subcommand(gomem, argv: str, prefix: str) -> None:
    r = gomem(*argv.split())
    assert r.err.startswith(prefix), r.err


# -- vm walk ---------------------------------------------------------------------

_INDEX_RE = re.compile(r"^\s+bits\s+\S+\s+(PML4|PDPT|PD|PT)\s+index\s+(\d+)$", re.M)
_OFFSET_RE = re.compile(r"^\s+bits 11\.\.0\s+offset (0x[0-9a-f]+)$", re.M)
_TABLE_RE = re.compile(
    r"^\s+(PML4|PDPT|PD|PT)\s+table at pfn (0x[0-9a-f]+), entry\s+(\d+): (none|0x[0-9a-f]+)",
    re.M,
)
_PHYS_RE = re.compile(r"^\s+physical address = .* = (0x[0-9a-f]+)$", re.M)


def indexes(out: str) -> dict[str, int]:
    return {level: int(i) for level, i in _INDEX_RE.findall(out)}


def table_lines(out: str) -> list[tuple[str, int, str]]:
    """(level, entry index, entry as printed: 'none' or hex) per walk step."""
    return [(level, int(i), entry) for level, _pfn, i, entry in _TABLE_RE.findall(out)]


def pfn_of(entry: int) -> int:
    return (entry >> 12) & ((1 << 40) - 1)  # bits 51..12


# (address, PML4, PDPT, PD, PT, offset)
WALK_INDEXES = [
    # 0x7f0000001234 = 0x7f << 40 | 0x1234
    #   >> 39 & 511 = 0x7f << 1 = 254;  >> 30 & 511 = (0x7f << 10) & 511 = 0
    #   >> 21 & 511 = 0;  >> 12 & 511 = 0x1;  & 0xfff = 0x234
    ("0x7f0000001234", 254, 0, 0, 1, 0x234),
    # 0x7fffffffe000: >> 39 = 0xff = 255; >> 30 = 0x1ffff -> 511; >> 21 = 0x3ffffff -> 511;
    #   >> 12 = 0x7fffffffe -> 0x1fe = 510; offset 0
    ("0x7fffffffe000", 255, 511, 511, 510, 0),
    # 0x400000 = 2 << 21: PD index 2, everything else 0
    ("0x400000", 0, 0, 2, 0, 0),
    # 4660 = 0x1234: PT index 1, offset 0x234 (decimal input)
    ("4660", 0, 0, 0, 1, 0x234),
]


@pytest.mark.parametrize(
    ("address", "pml4", "pdpt", "pd", "pt", "offset"),
    WALK_INDEXES,
    ids=[w[0] for w in WALK_INDEXES],
)
def test_walk_splits_the_address_into_four_indexes_and_an_offset(
    gomem, address: str, pml4: int, pdpt: int, pd: int, pt: int, offset: int
) -> None:
    r = gomem("vm", "walk", address)
    assert (r.code, r.err) == (0, "")
    assert indexes(r.out) == {"PML4": pml4, "PDPT": pdpt, "PD": pd, "PT": pt}
    (printed_offset,) = _OFFSET_RE.findall(r.out)
    assert int(printed_offset, 16) == offset
    # Each table the walk reaches is read at that level's index.
    expected = {"PML4": pml4, "PDPT": pdpt, "PD": pd, "PT": pt}
    for level, index, _entry in table_lines(r.out):
        assert index == expected[level]


def test_walk_of_an_unmapped_address_stops_at_an_empty_pml4_entry(gomem) -> None:
    # Nothing of a new process lies in PML4 slot 254 (0x7f0000000000..0x7f7fffffffff):
    # the binary is in slot 0 and the stack and mmap area in slot 255.
    r = gomem("vm", "walk", "0x7f0000001234")
    assert r.code == 0
    assert table_lines(r.out) == [("PML4", 254, "none")]
    assert "SIGSEGV (SEGV_MAPERR)" in r.out


def test_walk_after_a_write_shows_four_levels_and_a_resident_frame(gomem) -> None:
    r = gomem("vm", "walk", "0x7f0000001234", "--mmap", "4KiB", "--touch", "write")
    assert (r.code, r.err) == (0, "")
    # mmap at the address's page: 0x7f0000001234 & ~0xfff = 0x7f0000001000, one page long.
    assert "0x7f0000001000-0x7f0000002000 rw-p" in r.out
    steps = table_lines(r.out)
    assert [(level, index) for level, index, _ in steps] == [
        ("PML4", 254),
        ("PDPT", 0),
        ("PD", 0),
        ("PT", 1),
    ]
    entries = [int(e, 16) for _, _, e in steps]
    for entry in entries[:3]:  # upper levels: a present user table (_PAGE_TABLE has P RW US)
        assert entry & (PTE_P | PTE_RW | PTE_US) == PTE_P | PTE_RW | PTE_US
    leaf = entries[3]
    # A written private page: present, writable, user, accessed and dirty.
    assert leaf & 0x67 == PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D
    (pa,) = _PHYS_RE.findall(r.out)
    assert int(pa, 16) == pfn_of(leaf) << 12 | 0x234  # frame base | page offset
    assert pfn_of(leaf) != 0  # a frame of its own, not the zero page
    assert "Resident" in r.out


def test_walk_after_a_read_maps_the_shared_zero_page(gomem) -> None:
    r = gomem("vm", "walk", "0x7f0000001234", "--mmap", "4KiB", "--touch", "read")
    assert (r.code, r.err) == (0, "")
    steps = table_lines(r.out)
    assert [level for level, _, _ in steps] == ["PML4", "PDPT", "PD", "PT"]
    leaf = int(steps[3][2], 16)
    # The model's zero page is pfn 0; it is mapped present, user, read-only.
    assert pfn_of(leaf) == 0
    assert leaf & (PTE_P | PTE_US) == PTE_P | PTE_US
    assert leaf & PTE_RW == 0
    pt_line = next(line for line in r.out.splitlines() if line.lstrip().startswith("PT "))
    assert "pfn=0x0" in pt_line
    assert "zero page" in r.out


@pytest.mark.parametrize(
    ("address", "words"),
    [
        # Bits 63..48 must copy bit 47; 0x0000800000000000 has bit 47 set and 63..48 clear.
        ("0x0000800000000000", "not canonical"),
        # Upper half, bits 63..47 all set: kernel space (the legacy vsyscall page's address).
        ("0xffffffffff600000", "kernel"),
        ("0xffff800000000000", "kernel"),  # first kernel-half address
    ],
    ids=["non-canonical", "vsyscall-page", "kernel-half-start"],
)
def test_walk_of_a_non_user_address_says_why_without_walking(
    gomem, address: str, words: str
) -> None:
    r = gomem("vm", "walk", address)
    assert (r.code, r.err) == (0, "")
    assert words in r.out.lower()
    assert "SIGSEGV" in r.out
    assert table_lines(r.out) == []


@pytest.mark.parametrize("address", ["0x7ffffffff000", "0x7fffffffffff"], ids=["guard", "last"])
def test_walk_of_the_last_user_half_page_does_not_call_it_kernel(gomem, address: str) -> None:
    r = gomem("vm", "walk", address)
    assert r.code == 0
    out = r.out.lower()
    assert "kernel-half" not in out and "kernel half" not in out
    assert "SEGV_MAPERR" in r.out


# -- vm maps ---------------------------------------------------------------------


def maps_lines(gomem, *options: str) -> list[str]:
    r = gomem("vm", "maps", *options)
    assert (r.code, r.err) == (0, "")
    assert r.out.endswith("\n")
    return r.out.splitlines()


def test_maps_lines_are_in_the_kernels_format(gomem) -> None:
    lines = maps_lines(gomem)
    assert lines
    for line in lines:
        assert parse_maps_line(line).format() == line


def test_maps_are_sorted_and_do_not_overlap(gomem) -> None:
    entries = [parse_maps_line(line) for line in maps_lines(gomem)]
    for e in entries:
        assert e.start < e.end and e.start % 4096 == 0 and e.end % 4096 == 0
    for a, b in zip(entries, entries[1:], strict=False):
        assert a.end <= b.start


def test_maps_of_a_go_binary_without_aslr(gomem) -> None:
    lines = maps_lines(gomem)
    first, last = parse_maps_line(lines[0]), parse_maps_line(lines[-1])
    assert lines[0].startswith("00400000-")  # non-PIE text at 0x400000
    assert first.perms == "r-xp"
    assert lines[-1].endswith("[stack]")
    assert last.end == TASK_SIZE  # ASLR off: the stack ends at TASK_SIZE
    assert f"{last.end:x}" == "7ffffffff000"
    assert not any(line.endswith("[heap]") for line in lines)  # Go never calls brk


@pytest.mark.parametrize("seed", ["7", "8"], ids=["seed7", "seed8"])
def test_maps_with_aslr_move_the_stack_but_not_the_binary(gomem, seed: str) -> None:
    lines = maps_lines(gomem, "--aslr", "--seed", seed)
    assert lines[0].startswith("00400000-")  # non-PIE: the executable is never randomized
    stack = parse_maps_line(lines[-1])
    assert stack.name == "[stack]"
    # randomize_stack_top: up to STACK_RND_MASK (0x3fffff) pages = 16 GiB below TASK_SIZE.
    assert TASK_SIZE - (1 << 34) <= stack.end < TASK_SIZE


# -- vm status -------------------------------------------------------------------

# fs/proc/task_mmu.c task_mem(), in the order it prints them.
KERNEL_STATUS_ORDER = (
    "VmPeak",
    "VmSize",
    "VmLck",
    "VmPin",
    "VmHWM",
    "VmRSS",
    "RssAnon",
    "RssFile",
    "RssShmem",
    "VmData",
    "VmStk",
    "VmExe",
    "VmLib",
    "VmPTE",
    "VmSwap",
)
_STATUS_RE = re.compile(r"(?P<name>\w+):\t(?P<kb> {0,7}\d+) kB")  # "%s:\t%8lu kB"


def status_values(gomem) -> dict[str, int]:
    r = gomem("vm", "status")
    assert (r.code, r.err) == (0, "")
    lines = r.out.splitlines()
    assert len(lines) == 15
    values = {}
    for line in lines:
        m = _STATUS_RE.fullmatch(line)
        assert m, line
        assert len(m["kb"]) >= 8, line  # right-aligned in 8 columns
        values[m["name"]] = int(m["kb"])
    assert tuple(values) == KERNEL_STATUS_ORDER
    return values


def test_status_prints_the_15_memory_lines_in_the_kernels_order(gomem) -> None:
    values = status_values(gomem)
    assert tuple(values) == STATUS_MEMORY_FIELDS == KERNEL_STATUS_ORDER


def test_status_agrees_with_the_maps(gomem) -> None:
    values = status_values(gomem)
    entries = [parse_maps_line(line) for line in maps_lines(gomem)]

    def kb(es) -> int:
        return sum(e.end - e.start for e in es) // 1024

    # VmSize is total_vm: every VMA's size.
    assert values["VmSize"] == kb(entries)
    # VmStk: the VM_STACK mapping; VmData: private writable mappings other than the stack.
    assert values["VmStk"] == kb(e for e in entries if e.name == "[stack]")
    assert values["VmData"] == kb(e for e in entries if e.perms == "rw-p" and e.name != "[stack]")
    # VmExe: the executable's text; VmLib: other executable mappings (none when static).
    assert values["VmExe"] == kb(e for e in entries if e.perms == "r-xp")
    assert values["VmLib"] == 0
    # VmRSS = RssAnon + RssFile + RssShmem; the peaks are at least the current figures.
    assert values["VmRSS"] == values["RssAnon"] + values["RssFile"] + values["RssShmem"]
    assert values["VmPeak"] >= values["VmSize"]
    assert values["VmHWM"] >= values["VmRSS"]


# -- vm demo ---------------------------------------------------------------------

_DEMO_ROW_RE = re.compile(
    r"^(?P<step>\S.*?)\s{2,}(?P<vsz>[\d,]+)\s+(?P<dvsz>[+-]?[\d,]+)\s+(?P<rss>[\d,]+)\s+"
    r"(?P<drss>[+-]?[\d,]+)\s+(?P<faults>[\d,]+)\s+(?P<dfaults>[+-]?[\d,]+)\s+(?P<pte>\d+)$"
)


def demo_rows(out: str) -> dict[str, dict[str, int]]:
    """The demand-paging table of `vm demo`, by step name with the size stripped."""
    rows = {}
    for line in out.splitlines():
        m = _DEMO_ROW_RE.match(line)
        if m:
            step = re.sub(r" \d+ [KMG]iB$", "", m["step"])
            rows[step] = {
                k: int(v.replace(",", "")) for k, v in m.groupdict().items() if k != "step"
            }
    return rows


DEMO_STEPS = (
    "mmap",
    "read first half",
    "write first half",
    "write second half",
    "madvise DONTNEED 1st half",
    "munmap",
)


def test_demo_shows_maps_a_page_walk_and_the_demand_paging_table(gomem) -> None:
    r = gomem("vm", "demo")
    assert (r.code, r.err) == (0, "")
    for line in maps_lines(gomem):
        assert line in r.out.splitlines()
    assert "Page walk of" in r.out
    assert len(table_lines(r.out)) == 4  # the stack's top page is written: four levels
    assert tuple(demo_rows(r.out)) == DEMO_STEPS


# 64 MiB = 65536 kB = 16384 pages; half = 32768 kB = 8192 pages.
# (step, ΔVSZ kB, ΔRSS kB, Δfaults)
DEMO_DELTAS = [
    ("mmap", 65536, 0, 0),  # a VMA only
    ("read first half", 0, 0, 8192),  # one fault per page, zero page: no RSS
    ("write first half", 0, 32768, 8192),  # copy on write from the zero page
    ("write second half", 0, 32768, 8192),  # first touch is a write
    ("madvise DONTNEED 1st half", 0, -32768, 0),  # frames freed, VMA stays
    ("munmap", -65536, -32768, 0),  # VMA and the second half's frames go
]


@pytest.mark.parametrize(
    ("step", "dvsz", "drss", "dfaults"), DEMO_DELTAS, ids=[d[0] for d in DEMO_DELTAS]
)
def test_demo_deltas_of_64_mib(gomem, step: str, dvsz: int, drss: int, dfaults: int) -> None:
    r = gomem("vm", "demo")
    row = demo_rows(r.out)[step]
    assert (row["dvsz"], row["drss"], row["dfaults"]) == (dvsz, drss, dfaults)


def test_demo_page_tables_of_the_stack_alone(gomem) -> None:
    # Before and after the mapping only the stack's top page is mapped: one PT, one PD and
    # one PDPT page (the PML4 is not counted in VmPTE) = 3 * 4 kB.
    rows = demo_rows(gomem("vm", "demo").out)
    assert rows["mmap"]["pte"] == 12
    assert rows["munmap"]["pte"] == 12  # munmap's free_pgtables frees the emptied tables


def test_demo_64_mib_mapping_is_aligned_to_page_table_pages(gomem) -> None:
    # mmap_base = TASK_SIZE - 128 MiB = 0x7ffff7fff000; 64 MiB below it, aligned down to
    # 2 MiB: 0x7ffff3e00000. It then spans exactly 64 / 2 = 32 PT pages, under the stack's
    # PD and PDPT: 32 + 1 (stack PT) + 1 PD + 1 PDPT = 35 pages = 140 kB when all written,
    # 16 + 3 = 19 pages = 76 kB with only the first half touched.
    rows = demo_rows(gomem("vm", "demo").out)
    assert [rows[s]["pte"] for s in DEMO_STEPS] == [12, 76, 76, 140, 76, 12]


def test_demo_dontneed_of_less_than_2_mib_frees_no_page_table(gomem) -> None:
    # --size 3MiB: the first half is 1.5 MiB, less than the 2 MiB one PT page maps, so no PT
    # page lies wholly inside it and VmPTE cannot fall.
    r = gomem("vm", "demo", "--size", "3MiB")
    rows = demo_rows(r.out)
    assert rows["madvise DONTNEED 1st half"]["pte"] == rows["write second half"]["pte"]


def test_demo_is_deterministic(gomem) -> None:
    first, second = gomem("vm", "demo"), gomem("vm", "demo")
    assert first.code == second.code == 0
    assert first.out == second.out


def test_demo_with_aslr_depends_only_on_the_seed(gomem) -> None:
    a = gomem("vm", "demo", "--aslr", "--seed", "7")
    b = gomem("vm", "demo", "--aslr", "--seed", "7")
    c = gomem("vm", "demo", "--aslr", "--seed", "8")
    assert a.code == b.code == c.code == 0
    assert a.out == b.out
    assert a.out != c.out


# -- probe demand-paging (the real kernel) -------------------------------------

PROBE_PHASES = ["mmap", "read first half", "write first half", "write second half", "munmap"]


@pytest.mark.oracle
def test_probe_json_reports_kernel_and_model_per_phase(gomem) -> None:
    r = gomem("probe", "demand-paging", "--json", "--size", "8MiB")
    assert (r.code, r.err) == (0, "")
    doc = json.loads(r.out)
    assert doc["size_bytes"] == 8 * 1024 * 1024 == 8388608
    assert [p["phase"] for p in doc["phases"]] == PROBE_PHASES
    for phase in doc["phases"]:
        for side in ("kernel", "model"):
            assert set(phase[side]) == {"vm_size_kb", "rss_anon_kb", "minor_faults"}
            assert all(type(v) is int for v in phase[side].values())
    # The model's side by hand: 8 MiB = 8192 kB = 2048 pages; half = 4096 kB = 1024 pages.
    model = {p["phase"]: tuple(p["model"].values()) for p in doc["phases"]}
    assert model == {
        "mmap": (8192, 0, 0),
        "read first half": (0, 0, 1024),
        "write first half": (0, 4096, 1024),
        "write second half": (0, 4096, 1024),
        "munmap": (-8192, -8192, 0),
    }


@pytest.mark.oracle
def test_probe_table_names_every_phase(gomem) -> None:
    r = gomem("probe", "demand-paging", "--size", "8MiB")
    assert (r.code, r.err) == (0, "")
    assert "8,388,608 bytes" in r.out
    first_columns = [line.split("  ")[0] for line in r.out.splitlines()]
    for name in PROBE_PHASES:
        assert name in first_columns


# -- no files --------------------------------------------------------------------

NO_FILE_COMMANDS = [
    pytest.param("--version", id="version"),
    pytest.param("vm --help", id="vm-help"),
    pytest.param("vm maps", id="vm-maps"),
    pytest.param("vm status", id="vm-status"),
    pytest.param("vm walk 0x7f0000001234 --mmap 4KiB --touch write", id="vm-walk"),
    pytest.param("vm demo --size 8KiB", id="vm-demo"),
    pytest.param("vm demo --size 4097", id="vm-demo-bad-size"),
    pytest.param("probe demand-paging --size 8KiB", id="probe", marks=pytest.mark.oracle),
    pytest.param(
        "probe demand-paging --json --size 8KiB", id="probe-json", marks=pytest.mark.oracle
    ),
]


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("argv", NO_FILE_COMMANDS)
def test_commands_write_no_files(
    gomem, argv: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "already-here").write_text("x")
    before = listing(tmp_path)
    r = gomem(*argv.split())
    assert r.code in (0, 2)
    assert r.out or r.err  # it did run
    assert listing(tmp_path) == before


# -- a real process --------------------------------------------------------------


def run_process(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "GOMEM_DEBUG")}
    return subprocess.run(
        [sys.executable, "-m", "gomem.cli.main", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv",
    ["vm walk 0xZZ", "nosuchcommand", "vm demo --size 4097", "vm"],
    ids=["bad-address", "unknown-command", "bad-size", "missing-subcommand"],
)
def test_process_exits_2_with_one_line_and_no_traceback(argv: str, tmp_path: Path) -> None:
    done = run_process(*argv.split(), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr


def test_process_success_exits_0_with_empty_stderr(tmp_path: Path) -> None:
    done = run_process("vm", "maps", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1].endswith("[stack]")


def test_process_version(tmp_path: Path) -> None:
    done = run_process("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "gomem 0.1.0\n", "")


def test_the_gomem_script_runs_main() -> None:
    # pyproject.toml: [project.scripts] gomem = "gomem.cli.main:main"
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="gomem")
    assert script.load() is main
