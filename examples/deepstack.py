"""Recursion deep enough to grow a goroutine's stack several times.

Each call of walk keeps a pointer to a heap object and a pointer to its
caller's local (&prev) in its frame; every morestack copies the stack and
moves the pointers that point into it, as Go's copystack does.

Run it with `gomem run examples/deepstack.py`.
"""

from gomem.program import Program

prog = Program("deepstack")
Leaf = prog.struct("Leaf", Depth="int")

DEPTH = 200


@prog.func(
    args=["depth", "up"],
    locals={"depth": "int", "up": "*int", "leaf": "*Leaf", "pad": "[8]int"},
)
def walk(g, f):
    f.leaf = g.new(Leaf)
    g.store(f.leaf, "Depth", f.depth)
    if f.depth < DEPTH:
        g.call(walk, f.depth + 1, g.addr_of(f, "depth"))


@prog.func
def main(g, f):
    g.go(walk, 0, None)
