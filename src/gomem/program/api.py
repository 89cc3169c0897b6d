"""Writing Go-like programs for the simulated runtime. See docs/ARCHITECTURE.md.

    prog = Program()
    Node = prog.struct("Node", ID="int", Parent="*Node")

    @prog.func(locals={"child": "*Node", "parent": "*Node"})
    def New(g, f):
        f.child = g.new(Node)              # newobject; the result goes to a stack slot
        f.parent = g.new(Node)
        g.store(f.child, "Parent", f.parent)   # a heap pointer store: write barrier
        return f.child

    @prog.func(locals={"n": "*Node"})
    def main(g, f):
        f.n = g.call(New)

    result = prog.run(seed=1)

Each goroutine runs its Python body in a greenlet; every operation on `g`
(new, make, load, store, global reads and writes, call, go, work) begins
with a switch point where the scheduler may run other goroutines first,
so goroutines interleave at operation granularity. Greenlets let bodies
read like Go (no `yield` at every line) while the switch points stay in
one place, the runtime's scheduler.

Precise roots. Locals are words in the goroutine's simulated stack frame:
`f.child = ...` stores into the frame, `f.child` loads from it, and the
function's stack map (which locals hold pointers) lets the collector find
them, as in Go. Values crossing a switch point must live in a frame slot,
a global or a heap object, never only in a Python variable: with
`debug=True` every pointer an operation is given must have been read from
a slot or global since the goroutine's last switch, and a pointer kept in
a Python variable across an operation raises ProgramError.

Heap or stack is explicit: `g.new`/`g.make` allocate in the heap, locals
are on the stack. The compiler's escape analysis is not modelled.

Stores: a pointer stored into a heap object or a global goes through the
runtime's write-barrier hook (Runtime.write_pointer), as compiled Go code
does; stores into frame slots do not.

Simplified: goroutines run until their body returns (the program ends
when every goroutine has ended, as if main waited on a WaitGroup); no
channels, locks, maps, closures or defer; scalar values are Python ints
and floats stored as 8-byte words (smaller types are truncated on store).
"""

from __future__ import annotations

import struct as _struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gomem.runtime.malloc import mallocgc
from gomem.runtime.mbarrier import WriteBarrier
from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.mgcpacer import MAX_INT64
from gomem.runtime.mstats import MemStats
from gomem.runtime.proc import G, Pause, make_policy
from gomem.runtime.runtime import Runtime
from gomem.runtime.stack import Frame as RtFrame
from gomem.runtime.stack import FuncInfo
from gomem.runtime.type import Kind, Type

from .types import Field, StructType, TypeError_, TypeUniverse


class ProgramError(Exception):
    """A program broke a rule of the API (a type, a field, a root)."""


class Ptr:
    """A pointer value as a program holds it: an address and what it points to.

    `epoch` is the goroutine's operation count when the value was read from
    a root (-1: an operation's result, not yet stored anywhere). An
    operation accepts only pointers read since the previous operation.
    """

    __slots__ = ("addr", "to", "epoch")

    def __init__(self, addr: int, to: Type | StructType | None, epoch: int = -1) -> None:
        self.addr = addr
        self.to = to
        self.epoch = epoch

    def __int__(self) -> int:
        return self.addr

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ptr):
            return self.addr == other.addr
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.addr)

    def __repr__(self) -> str:
        name = getattr(self.to, "name", "?")
        return f"Ptr({self.addr:#x} *{name})"


@dataclass(slots=True)
class Slice:
    """A slice header value: {data, len, cap}."""

    data: Ptr | None
    len: int
    cap: int
    elem: Type  # element type (for indexing)
    elem_expr: str = ""


@dataclass(frozen=True, slots=True)
class Slot:
    """A local: its word offset in the frame, its type and how it is stored."""

    name: str
    offset: int  # bytes from the frame base
    type: Type
    expr: str
    kind: str  # "ptr", "word" (scalar), "float", "slice", "string", "iface", "array"
    to: Type | StructType | None = None  # what a pointer slot points to


class Func:
    """A Go function: Python body plus its frame layout and stack map."""

    def __init__(
        self,
        body: Callable[..., Any],
        name: str,
        universe: TypeUniverse,
        locals_: dict[str, str],
        args: Sequence[str],
    ) -> None:
        self.body = body
        self.name = name
        self.universe = universe
        self.local_exprs = dict(locals_)
        self.args = list(args)
        for a in self.args:
            if a not in self.local_exprs:
                raise ProgramError(f"func {name}: argument {a!r} must also be declared in locals")
        self._info: FuncInfo | None = None
        self.slots: dict[str, Slot] = {}
        self.view_class: type[FrameView] = FrameView  # a subclass with a property per slot
        # A plausible return address in the text segment, the same in every process.
        self.return_pc = 0x401000 + (zlib.crc32(name.encode()) & 0xFFFF) * 16

    @property
    def info(self) -> FuncInfo:
        """Lay out the frame on first use (types may be declared after the func)."""
        if self._info is None:
            offset, mask = 0, 0
            for name, expr in self.local_exprs.items():
                t = self.universe.parse(expr)
                kind = _slot_kind(t, name, self.name)
                words = max(1, -(-t.size // 8))
                to = self.universe.pointee(expr) if kind == "ptr" else None
                self.slots[name] = Slot(name, offset, t, expr, kind, to)
                mask |= t.ptrmask << (offset // 8)
                offset += 8 * words
            self._info = FuncInfo(self.name, offset, mask)
            self.view_class = _make_view_class(self)
        return self._info

    def __repr__(self) -> str:
        return f"Func({self.name})"


def _slot_kind(t: Type, name: str, fn: str) -> str:
    if t.kind in (Kind.POINTER, Kind.UNSAFE_POINTER, Kind.MAP, Kind.CHAN, Kind.FUNC):
        return "ptr"
    if t.kind == Kind.SLICE:
        return "slice"
    if t.kind == Kind.STRING:
        return "string"
    if t.kind == Kind.INTERFACE:
        return "iface"
    if t.kind == Kind.FLOAT:
        return "float"
    if t.kind in (Kind.INT, Kind.UINT, Kind.BOOL):
        return "word"
    if t.kind == Kind.ARRAY and t.elem is not None and t.elem.size in (1, 2, 4, 8):
        return "array"
    raise ProgramError(f"func {fn}: local {name!r} of type {t.name} cannot live in a frame slot")


class FrameView:
    """`f` in a function body: each local is a property that loads or stores its slot.

    Func builds one subclass per function (_make_view_class) with a property
    per local; reading an unknown name is a ProgramError, setting one an
    AttributeError.
    """

    __slots__ = ("_g", "_gp", "_func", "_frame", "_ld", "_st", "_n")

    def __init__(self, g: Goroutine, func: Func, frame: RtFrame) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_g", g)
        setattr_(self, "_gp", g.gp)
        setattr_(self, "_func", func)
        setattr_(self, "_frame", frame)
        setattr_(self, "_ld", g._load64)
        setattr_(self, "_st", g._store64)
        setattr_(self, "_n", 0)  # slot reads and writes: operations without a switch point

    def _slot(self, name: str) -> tuple[Slot, int]:
        slot = self._func.slots.get(name)
        if slot is None:
            raise ProgramError(f"func {self._func.name} has no local {name!r}")
        return slot, self._frame.base + slot.offset

    def __getattr__(self, name: str) -> Any:
        self._slot(name)  # raises: properties serve every known local
        raise AssertionError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        # The generated subclasses use object.__setattr__ directly (so that
        # their properties' setters run); this one exists for type checkers.
        object.__setattr__(self, name, value)


def _make_view_class(func: Func) -> type[FrameView]:
    """A FrameView subclass whose slots are properties (faster than __getattr__)."""
    # Plain attribute setting, so that the properties' setters run (an unknown
    # name then raises AttributeError; FrameView.__getattr__ reports unknown reads).
    ns: dict[str, Any] = {"__slots__": (), "__setattr__": object.__setattr__}
    for name, slot in func.slots.items():
        ns[name] = _slot_property(slot)
    return type(f"Frame_{func.name}", (FrameView,), ns)


def _slot_property(slot: Slot) -> property:
    off, kind, to = slot.offset, slot.kind, slot.to

    # Hot path: pointer and 8-byte word slots are one load or store.
    if kind == "ptr":

        def get(self: FrameView) -> Any:
            self._n += 1
            v = self._ld(self._frame.base + off)
            return Ptr(v, to, self._gp.epoch) if v else None

        def set_(self: FrameView, value: Any) -> None:
            self._n += 1
            if value is None:
                self._st(self._frame.base + off, 0)
            elif type(value) is Ptr:
                self._st(self._frame.base + off, value.addr)
            else:
                self._g._write(self._frame.base + off, kind, slot.type, value, barrier=False)

        return property(get, set_)
    if kind == "word" and slot.type.size == 8 and slot.type.kind != Kind.INT:

        def get_w(self: FrameView) -> Any:
            self._n += 1
            return self._ld(self._frame.base + off)

        def set_w(self: FrameView, value: Any) -> None:
            self._n += 1
            g = self._g
            g._write(self._frame.base + off, kind, slot.type, value, barrier=False)

        return property(get_w, set_w)

    def get_any(self: FrameView) -> Any:
        self._n += 1
        g = self._g
        return g._read(self._frame.base + off, kind, slot.type, slot.expr)

    def set_any(self: FrameView, value: Any) -> None:
        self._n += 1
        g = self._g
        g._write(self._frame.base + off, kind, slot.type, value, barrier=False)

    return property(get_any, set_any)


class Goroutine:
    """`g` in a function body: the operations of one goroutine."""

    def __init__(self, program: Program, rt: Runtime, gp: G, debug: bool) -> None:
        self.program = program
        self.rt = rt
        self.gp = gp
        self.debug = debug
        self.universe = program.universe
        self.costs = rt.costs
        p = rt.process
        self._load64, self._store64 = p.load64, p.store64
        self._switch = rt.sched.switch_point
        self._new_cache: dict[int, tuple[Any, ...]] = {}  # id(type) -> allocation facts

    # -- the scheduler's side --------------------------------------------------

    def _op(self, cost: int) -> int:
        """Start an operation: a switch point, then charge its cost to our P's clock."""
        gp = self.gp
        epoch = gp.epoch  # values read from roots since the previous operation carry it
        self._switch(gp)
        gp.epoch = epoch + 1
        p = gp.p
        gc = self.rt.gc
        if gc.check_each_step:
            gc.check_invariant()
        if p is not None:
            p.clock_ns += cost
            if p.clock_ns > gc.wake_ns:
                gc.check_periodic(p.clock_ns)  # what sysmon would notice
        return epoch

    def _rooted(self, v: Any, epoch: int, what: str) -> None:
        if isinstance(v, Ptr) and v.epoch != epoch:
            raise ProgramError(
                f"goroutine {self.gp.goid} ({self.gp.name}): {what} is a pointer held only in "
                "a Python variable across a switch point; store it in a frame slot (f.x = ...) "
                "and read it back"
            )

    # -- values in memory ------------------------------------------------------

    def _read(self, addr: int, kind: str, t: Type, expr: str) -> Any:
        load = self._load64
        if kind == "ptr":
            v = load(addr)
            return Ptr(v, self.universe.pointee(expr), self.gp.epoch) if v else None
        if kind == "word":
            if t.size == 8:
                v = load(addr)
                return v - (1 << 64) if t.kind == Kind.INT and v > MAX_INT64 else v
            raw = self.rt.process.read(addr, t.size)
            return int.from_bytes(raw, "little", signed=t.kind == Kind.INT)
        if kind == "float":
            return _struct.unpack("<d", load(addr).to_bytes(8, "little"))[0]
        if kind == "slice":
            data, n, c = self.rt.process.load_words(addr, 3)
            elem_expr = expr[2:]
            ep = Ptr(data, self.universe.parse(elem_expr), self.gp.epoch) if data else None
            return Slice(ep, n, c, self.universe.parse(elem_expr), elem_expr)
        if kind in ("string", "iface"):
            return self.rt.process.load_words(addr, 2)
        if kind == "array":
            elem = t.elem
            assert elem is not None
            ek = _slot_kind(elem, "elem", t.name)
            n = t.size // elem.size
            return [self._read(addr + i * elem.size, ek, elem, elem.name) for i in range(n)]
        raise ProgramError(f"cannot read a {t.name}")

    def _write(self, addr: int, kind: str, t: Type, value: Any, *, barrier: bool) -> None:
        if kind == "ptr":
            v = _addr_of(value, t)
            if barrier:
                self.rt.write_pointer(addr, v)
            else:
                self._store64(addr, v)
        elif kind == "word":
            if not isinstance(value, int):
                raise ProgramError(f"a {t.name} needs an int, got {type(value).__name__}")
            if t.size == 8:
                self._store64(addr, value & 0xFFFF_FFFF_FFFF_FFFF)
            else:
                mask = (1 << (8 * t.size)) - 1
                self.rt.process.write(addr, (value & mask).to_bytes(t.size, "little"))
        elif kind == "float":
            self._store64(addr, int.from_bytes(_struct.pack("<d", float(value)), "little"))
        elif kind == "slice":
            if not isinstance(value, Slice):
                raise ProgramError(f"a {t.name} needs a slice, got {type(value).__name__}")
            data = value.data.addr if value.data is not None else 0
            if barrier:
                self.rt.write_pointer(addr, data)
            else:
                self._store64(addr, data)
            self.rt.process.store_words(addr + 8, [value.len, value.cap])
        elif kind in ("string", "iface"):
            w0, w1 = value if isinstance(value, tuple) else (0, 0)
            ptr_word = addr if kind == "string" else addr + 8
            other = addr + 8 if kind == "string" else addr
            self._store64(other, int(w1) if kind == "string" else int(w0))
            v = int(w0) if kind == "string" else int(w1)
            if barrier:
                self.rt.write_pointer(ptr_word, v)
            else:
                self._store64(ptr_word, v)
        elif kind == "array":
            elem = t.elem
            assert elem is not None
            n = t.size // elem.size
            if not isinstance(value, (list, tuple)) or len(value) != n:
                raise ProgramError(f"a {t.name} needs a sequence of {n} elements")
            ek = _slot_kind(elem, "elem", t.name)
            for i, v in enumerate(value):
                self._write(addr + i * elem.size, ek, elem, v, barrier=barrier)
        else:
            raise ProgramError(f"cannot store a {t.name}")

    def _type_of(self, typ: StructType | Type | str) -> tuple[Type, Type | StructType]:
        if isinstance(typ, StructType):
            return typ.resolve(self.universe), typ
        if isinstance(typ, str):
            if typ in self.universe.structs:
                st = self.universe.structs[typ]
                return st.resolve(self.universe), st
            try:
                t = self.universe.parse(typ)
            except TypeError_ as err:
                raise ProgramError(str(err)) from None
            return t, t
        return typ, typ

    def _field(self, obj: Any, field: str | int | None) -> tuple[int, str, Type, str]:
        """(address, slot kind, type, type expression) of obj.field / obj[i] / *obj."""
        if isinstance(obj, Slice):
            if not isinstance(field, int) or not 0 <= field < obj.len:
                raise ProgramError(f"index {field!r} out of range [0:{obj.len}]")
            if obj.data is None:
                raise ProgramError("index of a nil slice")
            t = obj.elem
            return obj.data.addr + field * t.size, _slot_kind(t, "elem", "index"), t, obj.elem_expr
        if not isinstance(obj, Ptr):
            if obj is None:
                raise ProgramError("nil pointer dereference")
            raise ProgramError(f"not a pointer: {obj!r} (read pointers from frame slots)")
        to = obj.to
        if field is None:
            if isinstance(to, StructType) or to is None:
                raise ProgramError("a whole-struct load needs a field name")
            return obj.addr, _slot_kind(to, "value", "deref"), to, to.name
        if isinstance(to, StructType):
            fd: Field | None = to.fields.get(str(field))
            if fd is None:
                raise ProgramError(f"type {to.name} has no field {field!r}")
            return obj.addr + fd.offset, _slot_kind(fd.type, fd.name, to.name), fd.type, fd.expr
        if isinstance(to, Type) and to.kind == Kind.ARRAY and isinstance(field, int):
            elem = to.elem
            assert elem is not None
            if not 0 <= field < to.size // max(elem.size, 1):
                raise ProgramError(f"index {field} out of range for {to.name}")
            return obj.addr + field * elem.size, _slot_kind(elem, "elem", "index"), elem, elem.name
        raise ProgramError(f"cannot select {field!r} of {obj!r}")

    # -- operations ------------------------------------------------------------

    def new(self, typ: StructType | Type | str) -> Ptr:
        """new(T): a zeroed T in the heap."""
        # Hot path (written for speed): the type's facts are cached per type object,
        # and _op is inlined.
        facts = self._new_cache.get(id(typ))  # by identity: Type's own hash is slow
        if facts is None:
            t, to = self._type_of(typ)
            facts = (t.size, t if t.ptr_bytes else None, to, self._alloc_cost(t.size, t), typ)
            self._new_cache[id(typ)] = facts
        size, mtyp, to, cost, _ = facts
        gp = self.gp
        epoch = gp.epoch
        self._switch(gp)
        gp.epoch = epoch + 1
        if self.rt.gc.check_each_step:
            self.rt.gc.check_invariant()
        p = gp.p
        rt = self.rt
        if p is not None:
            p.clock_ns += cost
            x = mallocgc(rt, size, mtyp, True, p.mcache)
        else:
            x = mallocgc(rt, size, mtyp, True, rt.mcaches[0])
        if rt.gc.phase or rt.gc_controller.heap_live >= rt.gc.trigger:
            rt.gc.after_alloc(gp, x, self._slot_size(x, size))
        return Ptr(x, to)

    def make(self, slice_type: str, n: int, cap: int | None = None) -> Slice:
        """make([]T, n[, cap]): a zeroed backing array in the heap and its slice header."""
        if not slice_type.startswith("[]"):
            raise ProgramError(f"make needs a slice type like '[]int', not {slice_type!r}")
        cap = n if cap is None else cap
        if not 0 <= n <= cap:
            raise ProgramError(f"makeslice: len {n} out of range (cap {cap})")
        elem_expr = slice_type[2:]
        elem = self.universe.parse(elem_expr)
        size = elem.size * cap
        self._op(self._alloc_cost(size, elem))
        p = self.gp.p.id if self.gp.p else 0
        x = self.rt.mallocgc(size, elem if elem.ptr_bytes else None, p=p)
        gc = self.rt.gc
        if gc.phase or self.rt.gc_controller.heap_live >= gc.trigger:
            gc.after_alloc(self.gp, x, self._slot_size(x, size))
        return Slice(Ptr(x, elem) if size else None, n, cap, elem, elem_expr)

    def load(self, obj: Any, field: str | int | None = None) -> Any:
        """obj.field, obj[i] or *obj."""
        epoch = self._op(self.costs.pointer_load)
        if self.debug:
            self._rooted(obj, epoch, "the object")
        addr, kind, t, expr = self._field(obj, field)
        return self._result(self._read(addr, kind, t, expr))

    def store(self, obj: Any, field: str | int | None, value: Any) -> None:
        """obj.field = value (or obj[i] = value, *obj = value); pointers take the barrier."""
        to = obj.to if type(obj) is Ptr else None
        if type(to) is StructType and type(field) is str:
            # Hot path: a struct field, resolved once per struct type and field.
            facts = to.store_facts.get(field)
            if facts is None:
                addr, kind, t, expr = self._field(obj, field)
                pointerful = kind in ("ptr", "slice", "string", "iface")
                facts = to.store_facts[field] = (addr - obj.addr, kind, t, expr, pointerful)
            off, kind, t, expr, pointerful = facts
            cost = self.costs.pointer_store if pointerful else self.costs.scalar_store
            addr = obj.addr + off
        else:
            addr, kind, t, expr = self._field(obj, field)
            pointerful = kind in ("ptr", "slice", "string", "iface")
            cost = self.costs.pointer_store if pointerful else self.costs.scalar_store
        gp = self.gp  # _op, inlined (hot path)
        epoch = gp.epoch
        self._switch(gp)
        gp.epoch = epoch + 1
        if self.rt.gc.check_each_step:
            self.rt.gc.check_invariant()
        if gp.p is not None:
            gp.p.clock_ns += cost
        if self.debug:
            self._rooted(obj, epoch, "the object")
            self._rooted(value, epoch, "the value")
        if kind == "ptr" and (value is None or type(value) is Ptr):
            self.rt.write_pointer(addr, value.addr if value is not None else 0)
        else:
            self._write(addr, kind, t, value, barrier=True)

    def load_global(self, name: str) -> Any:
        self._op(self.costs.pointer_load)
        addr, t, expr = self.program.global_slot(self.rt, name)
        return self._result(self._read(addr, _slot_kind(t, name, "globals"), t, expr))

    def store_global(self, name: str, value: Any) -> None:
        addr, t, expr = self.program.global_slot(self.rt, name)
        kind = _slot_kind(t, name, "globals")
        epoch = self._op(self.costs.pointer_store if kind != "word" else self.costs.scalar_store)
        if self.debug:
            self._rooted(value, epoch, "the value")
        self._write(addr, kind, t, value, barrier=True)

    def convert(self, p: Ptr | None, ptr_type: str) -> Ptr | None:
        """(*T)(p): the same address seen as another pointer type (not an operation)."""
        if p is None:
            return None
        if not ptr_type.startswith("*") and ptr_type != "unsafe.Pointer":
            raise ProgramError(f"convert needs a pointer type like '*T', not {ptr_type!r}")
        to = self.universe.pointee(ptr_type) if ptr_type != "unsafe.Pointer" else None
        return Ptr(p.addr, to, p.epoch)

    def addr_of(self, f: FrameView, local: str) -> Ptr:
        """&local: a pointer into this goroutine's stack (valid until the function returns)."""
        slot, addr = f._slot(local)
        return Ptr(addr, slot.type, self.gp.epoch)

    def call(self, fn: Func | str, *args: Any) -> Any:
        """Call fn: push its frame (growing the stack if needed), run it, pop it."""
        func = self.program.lookup(fn)
        info = func.info
        epoch = self._op(self.costs.call)
        if self.debug:
            for a in args:
                self._rooted(a, epoch, "an argument")
        return self._enter(func, info, args)

    def _enter(self, func: Func, info: FuncInfo, args: Sequence[Any]) -> Any:
        gp = self.gp
        need = info.frame_size + 8  # the frame and the return address
        if gp.sched_sp - need < gp.stackguard0:
            old_lo, old_hi = gp.stack.lo, gp.stack.hi
            copied = self.rt.grow_stack(gp, need)
            # The arguments are in flight (registers, in Go): adjust those that point
            # into the old stack as morestack's register spill slots are.
            delta = gp.stack.hi - old_hi
            args = [
                Ptr(a.addr + delta, a.to, a.epoch)
                if isinstance(a, Ptr) and old_lo <= a.addr < old_hi
                else a
                for a in args
            ]
            if gp.p is not None:
                gp.p.clock_ns += (
                    self.costs.stack_copy_base + copied * self.costs.stack_copy_per_kib // 1024
                )
        sp = gp.sched_sp - 8
        self._store64(sp, func.return_pc)  # the return address the call pushes
        sp -= info.frame_size
        if info.frame_size:
            self.rt.process.write(sp, bytes(info.frame_size))  # locals start zeroed
        gp.sched_sp = sp
        frame = RtFrame(info, gp.stack.hi - sp, sp)
        gp.frames.append(frame)
        f = func.view_class(self, func, frame)
        if len(args) != len(func.args):
            raise ProgramError(f"{func.name} takes {len(func.args)} arguments, got {len(args)}")
        for name, v in zip(func.args, args, strict=True):
            setattr(f, name, v)
        try:
            result = func.body(self, f)
        finally:
            self.rt.local_ops += f._n
            gp.frames.pop()
            gp.sched_sp = frame.base + info.frame_size + 8
        return self._result(result)

    def go(self, fn: Func | str, *args: Any) -> int:
        """go fn(args): a new goroutine; returns its goid."""
        func = self.program.lookup(fn)
        epoch = self._op(self.costs.goroutine_create)
        if self.debug:
            for a in args:
                self._rooted(a, epoch, "an argument")
        return self.program._spawn(self.rt, func, args, creator=self.gp, debug=self.debug).goid

    def gc(self) -> None:
        """runtime.GC(): a full collection, sweep included; this goroutine waits for it."""
        self._op(0)
        self.rt.gc.gc(self.gp)

    def set_gc_percent(self, percent: int) -> int:
        """debug.SetGCPercent(percent): the old value. Turning the collector off
        first waits for a cycle in progress to finish marking, as Go does."""
        self._op(0)
        gc = self.rt.gc
        old = self.rt.gc_controller.gc_percent
        gc.set_gc_percent(percent)
        if percent < 0:
            while gc.phase != 0:  # gcWaitOnMark
                gc.waiters.append(self.gp)
                self.rt.sched.park(self.gp)
        return old

    def set_memory_limit(self, limit: int) -> int:
        """debug.SetMemoryLimit(limit): the old limit; a negative limit only reads it."""
        self._op(0)
        return self.rt.gc.set_memory_limit(limit)

    def free_os_memory(self) -> int:
        """debug.FreeOSMemory(): a forced collection (as runtime.GC), then every free
        heap page returned to the OS (scavengeAll); the bytes released."""
        self._op(0)
        self.rt.gc.gc(self.gp)
        return self.rt.free_os_memory()

    def work(self, ns: int) -> None:
        """Compute for ns of simulated time without touching memory."""
        self._op(max(0, int(ns)))

    def _result(self, v: Any) -> Any:
        if isinstance(v, Ptr):
            return Ptr(v.addr, v.to, -1)  # a result is rooted only once stored
        if isinstance(v, Slice) and v.data is not None:
            return Slice(Ptr(v.data.addr, v.data.to, -1), v.len, v.cap, v.elem, v.elem_expr)
        return v

    def _slot_size(self, x: int, size: int) -> int:
        """The bytes of the slot x was given (0 for zero-size objects at zerobase)."""
        span = self.rt.heap.span_of(x) if size else None
        return span.elemsize if span is not None else 0

    def _alloc_cost(self, size: int, t: Type) -> int:
        c = self.costs
        if size == 0:
            return c.alloc_tiny
        if size > 32760:
            return c.alloc_large_base + -(-size // 8192) * c.alloc_large_per_page
        if not t.ptr_bytes:
            return c.alloc_tiny if size < 16 else c.alloc_small_noscan
        return c.alloc_small_scan if size <= 512 else c.alloc_small_header


def _addr_of(value: Any, t: Type) -> int:
    if value is None:
        return 0
    if isinstance(value, Ptr):
        return value.addr
    if isinstance(value, int) and t.kind == Kind.UNSAFE_POINTER:
        return value
    raise ProgramError(f"a {t.name} needs a pointer (or None), got {value!r}")


@dataclass(frozen=True)
class RunResult:
    """What a program run did."""

    memstats: MemStats
    steps: int  # switch points: operations that went through the scheduler
    operations: int  # API operations: the steps plus frame-slot reads and writes
    goroutines: int  # the program's goroutines, main included (not the GC's workers)
    digest: str  # schedule digest: equal digests, equal interleavings
    now_ns: int  # simulated time at the end
    pauses: tuple[Pause, ...]
    stack_copies: int
    gctrace: tuple[str, ...]  # GODEBUG=gctrace=1 (and gcpacertrace=1) lines, when asked for
    rss_kb: int
    vsz_kb: int
    runtime: Runtime


class Program:
    """A Go-like program: struct types, globals and functions."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.universe = TypeUniverse()
        self.funcs: dict[str, Func] = {}
        self.global_exprs: dict[str, str] = {}
        self._global_addrs: dict[int, dict[str, tuple[int, Type, str]]] = {}

    def struct(self, name: str, **fields: str) -> StructType:
        """type name struct { fields... }: fields map names to type expressions."""
        try:
            return self.universe.declare(name, fields)
        except TypeError_ as err:
            raise ProgramError(str(err)) from None

    def type(self, expr: str) -> Type:
        try:
            return self.universe.parse(expr)
        except TypeError_ as err:
            raise ProgramError(str(err)) from None

    def globals(self, **vars_: str) -> None:
        """var name T at package level (zeroed, in bss; pointers in them are GC roots)."""
        for name, expr in vars_.items():
            if name in self.global_exprs:
                raise ProgramError(f"global {name} declared twice")
            self.global_exprs[name] = expr

    def func(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        locals: dict[str, str] | None = None,  # noqa: A002 - the issue's API word
        args: Sequence[str] = (),
        name: str | None = None,
    ) -> Any:
        """Decorator: a Go function with typed locals (its frame) and named arguments."""

        def wrap(body: Callable[..., Any]) -> Func:
            fname = name or body.__name__
            if fname in self.funcs:
                raise ProgramError(f"func {fname} declared twice")
            f = Func(body, fname, self.universe, locals or {}, args)
            self.funcs[fname] = f
            return f

        return wrap(fn) if fn is not None else wrap

    def lookup(self, fn: Func | str) -> Func:
        if isinstance(fn, Func):
            return fn
        try:
            return self.funcs[fn]
        except KeyError:
            raise ProgramError(f"no func {fn!r}") from None

    def global_slot(self, rt: Runtime, name: str) -> tuple[int, Type, str]:
        table = self._global_addrs.get(id(rt))
        if table is None or name not in table:
            raise ProgramError(f"no global {name!r}")
        return table[name]

    def _spawn(
        self, rt: Runtime, func: Func, args: Sequence[Any], *, creator: G | None, debug: bool
    ) -> G:
        info = func.info
        holder: dict[str, Goroutine] = {}

        def body(gp: G) -> Any:
            g = holder["g"]
            return g._enter(func, info, args)

        gp = rt.newproc(func.name, body, creator)
        holder["g"] = Goroutine(self, rt, gp, debug)
        return gp

    def run(
        self,
        main: Func | str = "main",
        *,
        seed: int = 0,
        gomaxprocs: int = 1,
        policy: str = "roundrobin",
        script: Sequence[int | str] = (),
        debug: bool = False,
        check: bool = False,
        runtime: Runtime | None = None,
        gogc: int = 100,
        memlimit: int = MAX_INT64,
        gctrace: bool = False,
        gcpacertrace: bool = False,
        barrier: str | WriteBarrier = "go",
    ) -> RunResult:
        """Run main (and every goroutine it starts) to completion on a fresh runtime.

        gogc is GOGC (negative: off), memlimit GOMEMLIMIT in bytes; gctrace collects
        GODEBUG=gctrace=1 lines in RunResult.gctrace (and gcpacertrace=1's pacer
        lines, in the order Go prints them); barrier picks the write barrier
        (mbarrier.BARRIERS); check also walks the heap after each cycle for reachable freed objects.
        """
        rt = runtime or Runtime(gomaxprocs=gomaxprocs, policy=make_policy(policy, seed, script))
        rt.gc.set_gc_percent(gogc)
        rt.gc.set_memory_limit(memlimit)
        rt.gc.gctrace = gctrace
        if gcpacertrace:
            rt.gc_controller.pacertrace = rt.gc.trace
        rt.gc.barrier = barrier if isinstance(barrier, WriteBarrier) else WriteBarrier(barrier)
        rt.gc.check_after_cycle = check
        rt.gc.check_each_step = check
        table: dict[str, tuple[int, Type, str]] = {}
        for name, expr in self.global_exprs.items():
            t = self.type(expr)
            table[name] = (rt.new_global(name, t), t, expr)
        self._global_addrs[id(rt)] = table
        fn = self.lookup(main)
        self._spawn(rt, fn, (), creator=None, debug=debug)

        def on_exit(gp: G) -> None:
            rt.goexit(gp)
            if check:
                rt.check_invariants()

        try:
            rt.sched.run(on_exit)
        except RuntimeThrow:
            raise
        stats = rt.read_mem_stats()
        if check:
            rt.check_invariants()
        ps = rt.process.statistics()
        return RunResult(
            memstats=stats,
            steps=rt.sched.steps,
            operations=rt.sched.steps + rt.local_ops,
            goroutines=rt.goroutines_created,
            digest=rt.sched.digest(),
            now_ns=rt.sched.now,
            pauses=tuple(rt.sched.pauses),
            stack_copies=rt.stack_copies,
            gctrace=tuple(rt.gc.trace),
            rss_kb=ps.vm_rss_kb,
            vsz_kb=ps.vm_size_kb,
            runtime=rt,
        )
