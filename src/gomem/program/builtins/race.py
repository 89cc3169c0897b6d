"""The lost-object race, the reason write barriers exist.

While the collector marks, a mutator moves the only other pointer to a
white object Z out of a grey object Y (not yet scanned) into a black one
X (already scanned), through a stack slot, and deletes the original:

    var gy, gx *T         // roots: gy's Y and gx's X are greyed, X is scanned first

    func mutator() {
        x, y := gx, gy
        z := y.P          // Z is now also in a stack slot -- but this stack is black
        x.P = z           // black X -> white Z: a heap store, the barrier sees it
        y.P = nil         // the last grey path to Z is gone
    }

Without a barrier Z is never marked and is freed while X still points
to it. `gomem gc demo --barrier none|dijkstra|yuasa|hybrid|go` runs this
program under the scripted schedule of script(mode).
"""

from gomem.program import Program

prog = Program("race")
T = prog.struct("T", P="*T", V="int")
prog.globals(gy="*T", gx="*T")  # gy first: X is pushed last, so scanned first

# GOMAXPROCS the schedule is written for: 4 Ps give one dedicated mark worker (Go's
# 25%), the worker the script runs; the idle Ps' idle workers finish the cycle.
PROCS = 4

MUTATOR_STEPS = ("x := gx", "y := gy", "z := y.P", "x.P = z", "y.P = nil")


@prog.func(locals={"x": "*T", "y": "*T", "z": "*T"})
def mutator(g, f):
    f.x = g.load_global("gx")
    f.y = g.load_global("gy")
    f.z = g.load(f.y, "P")
    g.store(f.x, "P", f.z)
    g.store(f.y, "P", None)
    f.x = f.y = f.z = None


@prog.func(locals={"x": "*T", "y": "*T", "z": "*T"})
def main(g, f):
    f.x = g.new(T)
    f.y = g.new(T)
    f.z = g.new(T)
    g.store(f.y, "P", f.z)
    g.store_global("gx", f.x)
    g.store_global("gy", f.y)
    f.x = f.y = f.z = None
    g.go(mutator)
    g.gc()


def script(mode: str) -> list[int | str]:
    """The schedule: main's 8 operations (the last starts the cycle and waits), the
    worker up to X being black, the mutator's 5 operations, then the worker again.

    Before X, the worker does the root jobs (globals; the g records; main's and the
    mutator's stacks, unless yuasa scanned every stack at mark start) and scans the
    two g records the roots greyed (last pushed, first popped).
    """
    worker = "gcBgMarkWorker"
    roots = 2 if mode == "yuasa" else 4
    return [1] * 8 + [worker] * (roots + 3) + ["mutator"] * len(MUTATOR_STEPS) + [worker] * 2
