"""Translated 8-byte loads and stores per second through gomem.machine's public API.

Prints, for one core:
  - single accesses (load64 / store64) with a warm TLB,
  - the run fast path (load_words / store_words, 512 words = one page per call),
  - accesses that miss the TLB (more pages than TLB entries) and first-touch faults,
  - the same single-access loop over a bare dict of memoryviews, measured in the
    same run, as the ceiling a Python translation layer can approach.

Target (issue 2): >= 1,000,000 single accesses per second through the public API.
Usage: python benchmarks/machine_access.py [--n N] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import time

from gomem.machine import PAGE_SIZE, Machine

WORDS_PER_PAGE = PAGE_SIZE // 8


def _best(fn, repeat: int = 5) -> float:
    """Fastest of `repeat` runs, in seconds (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench(n: int) -> dict[str, float]:
    machine = Machine()
    p = machine.spawn("bench")
    npages = 512  # 2 MiB: fits the 1536-entry TLB
    base = p.mmap(npages * PAGE_SIZE)
    p.touch(base, npages * PAGE_SIZE, write=True)  # fault everything in
    addrs = [base + ((i * 8) % (npages * PAGE_SIZE)) for i in range(0, n * 4097, 4097)][:n]
    addrs = [a & ~7 for a in addrs]
    load64, store64 = p.load64, p.store64
    for a in addrs[: npages * 2]:  # warm the TLB for loads and stores
        store64(a, load64(a))

    def singles() -> None:
        for a in addrs:
            store64(a, load64(a) + 1)

    pages = [base + i * PAGE_SIZE for i in range(npages)]
    load_words, store_words = p.load_words, p.store_words

    def runs() -> None:
        for a in pages:
            store_words(a, load_words(a, WORDS_PER_PAGE))

    # Bare ceiling: a dict of memoryviews keyed by page number, same addresses.
    frames = {(base >> 12) + i: memoryview(bytearray(PAGE_SIZE)) for i in range(npages)}
    q = struct.Struct("<Q")
    up, pk = q.unpack_from, q.pack_into

    def bare() -> None:
        f = frames
        for a in addrs:
            m = f[a >> 12]
            o = a & 4095
            pk(m, o, up(m, o)[0] + 1)

    # TLB misses: cycle through more pages than the TLB holds.
    many = 4096
    wide = p.mmap(many * PAGE_SIZE)
    p.touch(wide, many * PAGE_SIZE, write=True)
    wide_addrs = [wide + (i % many) * PAGE_SIZE for i in range(n // 4)]

    def misses() -> None:
        for a in wide_addrs:
            load64(a)

    fresh_pages = 16384  # 64 MiB of first touches

    def faults() -> None:
        a = p.mmap(fresh_pages * PAGE_SIZE)
        for va in range(a, a + fresh_pages * PAGE_SIZE, PAGE_SIZE):
            store64(va, 1)
        p.munmap(a, fresh_pages * PAGE_SIZE)

    t_single = _best(singles)
    t_runs = _best(runs)
    t_bare = _best(bare)
    t_miss = _best(misses)
    t_fault = _best(faults, repeat=3)
    return {
        "single_accesses_per_s": 2 * n / t_single,
        "run_words_per_s": 2 * npages * WORDS_PER_PAGE / t_runs,
        "bare_dict_accesses_per_s": 2 * n / t_bare,
        "tlb_miss_loads_per_s": len(wide_addrs) / t_miss,
        "first_touch_faults_per_s": fresh_pages / t_fault,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500_000, help="load+store pairs per timing run")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    r = bench(args.n)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(
        f"gomem.machine access benchmark ({platform.python_implementation()} "
        f"{platform.python_version()}, one core, best of 5)"
    )
    print(
        f"  single load64/store64, warm TLB : {r['single_accesses_per_s']:>14,.0f} accesses/s"
        f"  (target >= 1,000,000)"
    )
    print(f"  load_words/store_words runs     : {r['run_words_per_s']:>14,.0f} words/s")
    print(f"  loads missing the TLB           : {r['tlb_miss_loads_per_s']:>14,.0f} loads/s")
    print(f"  first-touch write faults        : {r['first_touch_faults_per_s']:>14,.0f} faults/s")
    print(f"  bare dict-of-memoryviews loop   : {r['bare_dict_accesses_per_s']:>14,.0f} accesses/s")
    ratio = r["single_accesses_per_s"] / r["bare_dict_accesses_per_s"]
    print(f"  public API / bare loop          : {ratio:>14.2f}")


if __name__ == "__main__":
    main()
