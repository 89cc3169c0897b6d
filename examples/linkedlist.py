"""Two goroutines build linked lists rooted in globals, interleaved step by step.

    var heads [2]*Item

    func build(id, n int) {
        for i := 0; i < n; i++ {
            it := &Item{Val: i}
            next := heads[id]
            it.Next = next
            heads[id] = it
        }
    }

Run it with `gomem run examples/linkedlist.py --gomaxprocs 2`.
"""

from gomem.program import Program

prog = Program("linkedlist")
Item = prog.struct("Item", Val="int", Next="*Item", Payload="[48]byte")
prog.globals(head0="*Item", head1="*Item")

N = 500


def builder(head: str):
    @prog.func(name=f"build_{head}", locals={"it": "*Item", "next": "*Item"})
    def build(g, f):
        for i in range(N):
            f.it = g.new(Item)
            g.store(f.it, "Val", i)
            f.next = g.load_global(head)  # a loaded pointer goes to a slot before its next use
            g.store(f.it, "Next", f.next)
            g.store_global(head, f.it)

    return build


build0 = builder("head0")
build1 = builder("head1")


@prog.func
def main(g, f):
    g.go(build0)
    g.go(build1)
