"""The outline's write-barrier example: New links a child Node to its parent.

    type Node struct {
        ID     int
        Parent *Node
    }

    func New() *Node {
        child := &Node{}
        parent := &Node{}
        child.Parent = parent   // a heap pointer store: the compiler emits a write barrier
        return child
    }

Run it with `gomem run examples/node.py`.
"""

from gomem.program import Program

prog = Program("node")
Node = prog.struct("Node", ID="int", Parent="*Node")


@prog.func(locals={"child": "*Node", "parent": "*Node"})
def New(g, f):
    f.child = g.new(Node)
    f.parent = g.new(Node)
    g.store(f.child, "Parent", f.parent)
    return f.child


@prog.func(locals={"n": "*Node"})
def main(g, f):
    f.n = g.call(New)
