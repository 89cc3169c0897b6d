"""Workload specs in TOML: programs without code. See docs/WORKLOADS.md.

A workload file describes what a Go program does to memory, not how:
goroutines, object types and their mix, how many allocations (or bytes),
which objects survive and for how long, how survivors are linked (the
shape of the live heap), and how many extra pointer stores it makes.

    w = load_workload("examples/steady.toml")   # parse and validate
    prog, opts = build_program(w)              # a gomem Program doing exactly that
    result = prog.run(**opts)                  # seed, gomaxprocs, policy

The schema (every key is checked; unknown keys are errors):

    [workload]
    name = "steady"          # default: the file's stem
    seed = 1                 # default 0; the goroutines' random choices derive from it
    gomaxprocs = 2           # default 1
    policy = "roundrobin"    # or "random" (the scheduler's policy, seeded too)
    goroutines = 4           # default 1; workers, started by main
    allocs = 20000           # total allocations of all workers, or
    bytes = "64MiB"          #   total bytes requested (exactly one of the two)
    alloc_rate = "512MiB/s"  # optional: each worker computes n/alloc_rate after n bytes

    [[types]]                # one table per object type (at least one)
    name = "Node"            # a Go identifier
    size = 64                # bytes: 64, "64", "1KiB", "2MiB"
    pointers = 2             # pointer fields at the start (default 0: noscan)
    weight = 3               # share of allocations (default 1)
    survive = 0.5            # optional: overrides lifetime.survive for this type

    [lifetime]               # optional: without it nothing survives
    survive = 0.1            # fraction of new objects that are kept live
    distribution = "forever" # "forever" (until max_objects evicts them, oldest
                             # first), "exponential" (mean_allocs) or "uniform"
                             # (min_allocs..max_allocs); lifetimes count the
                             # allocations of the worker that made the object
    mean_allocs = 500

    [live]
    shape = "list"           # ring | list | tree | graph (default ring)
    fanout = 2               # tree, graph: child fields per node (default: all;
                             # the other pointer fields are left to the stores)
    max_objects = 5000       # cap on the live set (split among the workers);
                             # required when anything survives

    [stores]
    rate = 0.5               # extra pointer stores per allocation (default 0)

Errors are WorkloadError, one line: `file: key.path: reason`.

The program. A type of size S with P pointers is `struct { p0 .. p{P-1}
unsafe.Pointer; pad [S-8P]byte }` (unsafe.Pointer, so any object can point
to any other, as a generated Go program would). main starts the workers
and returns; worker i owns the global `roots{i} []unsafe.Pointer`, cap_i
slots (its share of max_objects) holding the *entries* of its live
structure; everything else live hangs below an entry. Each step:

1. unlink the objects whose lifetime is over, soonest-to-die first;
2. pick a type by weight and `new` it into a frame slot;
3. with probability survive, link it in by the shape (if the live set is
   full, the live object due to die soonest is unlinked first):
   ring   it takes a free root slot;
   list   it becomes hand.p0 (the hand is the newest live survivor with
          pointers), or, without pointers, hangs in the hand's first free
          field after p0; so the survivors form a chain, oldest first;
   tree   it is inserted below the root (the earliest-dying entry), walking
          down random fields as a randomized meldable heap ordered by death:
          a free field takes it, a later-dying child is displaced below it;
   graph  as tree, then one more edge into it, as an extra store makes;
   where that is impossible (no hand, a dead end) it takes a root slot;
4. floor(rate) extra stores, +1 with probability frac(rate): the newest
   survivor goes into a free field (one no shape edge holds) of an
   earlier-dying object found by a short random walk from a random entry;
5. if alloc_rate is set, compute (g.work) for size / alloc_rate.

Every pointer an operation gets is read from a frame slot just before it:
walks load field by field into typed cursor slots (Go's `(*T)(p)`), and
scratch slots are cleared after each step, as Go's stack maps would treat
dead locals. So a workload runs under debug=True, and with the stores
going through g.store/g.store_global the write-barrier hook sees them all.

Invariants, kept by every step; they make the heap a collector would see
the one the spec describes:

* death order: objects die in key order, key = (death allocation, birth
  sequence), and every pointer between live objects goes from a smaller
  key to a larger one, so no pointer keeps an object past its death;
* rooted: every live object is an entry or has a live shape predecessor;
  so the objects reachable from the globals are exactly the live set
  (plus the current step's frame slots), and len(live) <= cap_i;
* so the object that dies (the smallest key) has no live predecessor and
  is an entry: unlinking it is one store of nil into its root slot, after
  its children without another shape predecessor are re-placed (list,
  ring: they take root slots, the first one its slot; tree, graph: the
  earliest-dying takes its slot and the others are merged below it).

Determinism: worker i draws from random.Random(f"{seed}:{i}") (a string
seed is hashed with SHA-512, never Python's hash()), and the scheduler's
policy is seeded with the same seed. The seed is part of the built program:
build_program(w, seed=...) overrides the file's.

Simplified: lifetimes count the worker's own allocations, and deaths
happen only between allocations; the walks that choose where to link or
store are Python's choice, but every load they need is a real operation;
without a collector nothing is freed, so dead objects stay in the heap.
"""

from __future__ import annotations

import bisect
import difflib
import heapq
import math
import random
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .api import FrameView, Goroutine, Program, Ptr, RunResult
from .types import BASIC

SHAPES = ("ring", "list", "tree", "graph")
DISTRIBUTIONS = ("forever", "exponential", "uniform")
POLICIES = ("roundrobin", "random")
FOREVER = 1 << 62  # death allocation of an object only the max_objects cap can evict
MAX_STORE_RATE = 64  # extra stores per allocation
WALK_TRIES = 3  # walks an extra store tries before it is skipped
ENTRY_TRIES = 8  # random entries tried before a walk gives up (keeps choosing O(1))
# Typed frame slots, one per role and type: the new object, a walk's cursor, an object
# being re-placed, a child being adopted, an object a store left without predecessor,
# a dying object, and the two hands.
ROLES = ("obj", "a", "c", "d", "o", "x", "hand", "recent")
SCRATCH = ("obj", "a", "c", "d", "o", "x")  # cleared after every step

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|TiB)?\s*$")
_RATE_RE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|TiB)?\s*/\s*s\s*$")
_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


class WorkloadError(ValueError):
    """A workload file that cannot be used; the message is one line naming file and key."""


# -- the spec ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjType:
    """One [[types]] entry."""

    name: str  # the Go struct's name
    size: int  # bytes; size % 8 == 0 when pointers > 0 (Go would round it up)
    pointers: int  # unsafe.Pointer fields p0.. at the start; 8 * pointers <= size
    weight: float  # > 0: share of allocations is weight / sum of weights
    survive: float  # effective fraction kept live (the type's own or lifetime.survive)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """[lifetime]: which new objects are kept and for how many allocations."""

    survive: float = 0.0  # in [0, 1]
    distribution: str = "forever"  # one of DISTRIBUTIONS
    mean_allocs: float = 0.0  # exponential: mean lifetime
    min_allocs: int = 0  # uniform: shortest lifetime (>= 1)
    max_allocs: int = 0  # uniform: longest lifetime (>= min_allocs)


@dataclass(frozen=True, slots=True)
class Workload:
    """A validated workload spec."""

    name: str
    source: str  # the file it came from, for messages
    seed: int
    gomaxprocs: int
    policy: str
    goroutines: int
    allocs: int | None  # exactly one of allocs and nbytes is set
    nbytes: int | None
    alloc_rate: int | None  # bytes per simulated second per worker, or None
    types: tuple[ObjType, ...]
    lifetime: Lifetime
    shape: str
    fanout: int  # tree, graph: pointer fields used for children (the rest are for stores)
    max_objects: int  # 0 only when nothing survives
    store_rate: float  # extra pointer stores per allocation

    def caps(self) -> list[int]:
        """Each worker's share of max_objects (the first ones get the remainder)."""
        return _split(self.max_objects, self.goroutines)

    def run_options(self, seed: int | None = None) -> dict[str, Any]:
        return {
            "seed": self.seed if seed is None else seed,
            "gomaxprocs": self.gomaxprocs,
            "policy": self.policy,
        }


def load_workload(path: str | Path) -> Workload:
    """Read and validate a workload file; raises WorkloadError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise WorkloadError(f"{source}: cannot read: {err}") from None
    return parse_workload(text, source, default_name=Path(path).stem)


def parse_workload(text: str, source: str = "<string>", *, default_name: str = "") -> Workload:
    """Parse and validate the text of a workload file; raises WorkloadError."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err).splitlines()[0] if str(err) else "invalid TOML"
        m = _TOML_LINE.search(msg)
        where = f"line {m.group(1)}" if m else "TOML"
        raise WorkloadError(f"{source}: {where}: invalid TOML: {msg}") from None
    return _Parser(source).workload(doc, default_name or "workload")


class _Table:
    """A TOML table being read: typed getters; unknown keys fail at once."""

    def __init__(self, p: _Parser, path: str, data: Any, known: tuple[str, ...]) -> None:
        self.p, self.path = p, path
        if not isinstance(data, dict):
            p.fail(path, f"must be a table ([{path}]), not {_kind(data)}")
        self.data: dict[str, Any] = data
        for k in data:  # a typo must not silently mean the default
            if k not in known:
                close = difflib.get_close_matches(k, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                p.fail(self.key(k), f"unknown key{hint}")

    def key(self, k: str) -> str:
        return f"{self.path}.{k}" if self.path else k

    def has(self, k: str) -> bool:
        return k in self.data

    def raw(self, k: str) -> Any:
        return self.data.get(k)

    def int_(self, k: str, default: int | None = None, *, lo: int = 1) -> int:
        if k not in self.data:
            if default is None:
                self.p.fail(self.key(k), "required")
            return default
        v = self.data[k]
        if not isinstance(v, int) or isinstance(v, bool):
            self.p.fail(self.key(k), f"must be an integer, not {_kind(v)}")
        if v < lo:
            self.p.fail(self.key(k), f"must be at least {lo}, not {v}")
        return v

    def number(self, k: str, default: float | None = None, *, positive: bool = False) -> float:
        if k not in self.data:
            if default is None:
                self.p.fail(self.key(k), "required")
            return default
        v = self.data[k]
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            self.p.fail(self.key(k), f"must be a number, not {_kind(v)}")
        if v < 0 or (positive and v == 0):
            self.p.fail(self.key(k), f"must be {'positive' if positive else '>= 0'}, not {v}")
        return float(v)

    def fraction(self, k: str, default: float | None = None) -> float:
        v = self.data.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and not 0 <= v <= 1:
            self.p.fail(self.key(k), f"must be a fraction in [0, 1], not {v}")
        return self.number(k, default)

    def choice(self, k: str, options: tuple[str, ...], default: str) -> str:
        if k not in self.data:
            return default
        v = self.data[k]
        if v not in options:
            shown = repr(v) if isinstance(v, str) else _kind(v)
            self.p.fail(self.key(k), f"must be one of {', '.join(options)}, not {shown}")
        return str(v)

    def size(self, k: str) -> int | None:
        if k not in self.data:
            return None
        n = parse_size(self.data[k])
        if n is None or n <= 0:
            self.p.fail(self.key(k), 'must be a positive size like 64 or "1KiB"')
        return n


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, reason: str) -> NoReturn:
        raise WorkloadError(f"{self.source}: {key}: {reason}")

    def workload(self, doc: dict[str, Any], default_name: str) -> Workload:
        top = _Table(self, "", doc, ("workload", "types", "lifetime", "live", "stores"))
        if not top.has("workload"):
            self.fail("workload", "required ([workload] with allocs or bytes)")
        wt = _Table(
            self,
            "workload",
            top.raw("workload"),
            ("name", "seed", "gomaxprocs", "policy", "goroutines", "allocs", "bytes", "alloc_rate"),
        )
        name = default_name
        if wt.has("name"):
            v = wt.raw("name")
            if not isinstance(v, str) or not v.strip() or "\n" in v:
                self.fail("workload.name", "must be a non-empty one-line string")
            name = v
        seed = wt.int_("seed", 0, lo=0)
        gomaxprocs = wt.int_("gomaxprocs", 1)
        policy = wt.choice("policy", POLICIES, "roundrobin")
        goroutines = wt.int_("goroutines", 1)
        if wt.has("allocs") == wt.has("bytes"):
            which = "both" if wt.has("allocs") else "neither"
            self.fail("workload", f"give exactly one of allocs and bytes ({which} given)")
        allocs = wt.int_("allocs") if wt.has("allocs") else None
        nbytes = wt.size("bytes")
        alloc_rate = None
        if wt.has("alloc_rate"):
            alloc_rate = parse_rate(wt.raw("alloc_rate"))
            if alloc_rate is None or alloc_rate <= 0:
                self.fail("workload.alloc_rate", 'must be a positive rate like "512MiB/s"')

        lifetime = self.lifetime(top)
        types = self.types(top, lifetime)
        shape, fanout, max_objects = self.live(top, types)
        store_rate = 0.0
        if top.has("stores"):
            st = _Table(self, "stores", top.raw("stores"), ("rate",))
            store_rate = st.number("rate", 0.0)
            if store_rate > MAX_STORE_RATE:
                self.fail("stores.rate", f"must be at most {MAX_STORE_RATE}, not {store_rate}")
        return Workload(
            name=name,
            source=self.source,
            seed=seed,
            gomaxprocs=gomaxprocs,
            policy=policy,
            goroutines=goroutines,
            allocs=allocs,
            nbytes=nbytes,
            alloc_rate=alloc_rate,
            types=types,
            lifetime=lifetime,
            shape=shape,
            fanout=fanout,
            max_objects=max_objects,
            store_rate=store_rate,
        )

    def lifetime(self, top: _Table) -> Lifetime:
        if not top.has("lifetime"):
            return Lifetime()
        lt = _Table(
            self,
            "lifetime",
            top.raw("lifetime"),
            ("survive", "distribution", "mean_allocs", "min_allocs", "max_allocs"),
        )
        survive = lt.fraction("survive")
        dist = lt.choice("distribution", DISTRIBUTIONS, "forever")
        wanted = {"exponential": ("mean_allocs",), "uniform": ("min_allocs", "max_allocs")}
        for k in ("mean_allocs", "min_allocs", "max_allocs"):
            if lt.has(k) and k not in wanted.get(dist, ()):
                self.fail(f"lifetime.{k}", f"not used by distribution = {dist!r}")
        mean = lt.number("mean_allocs", positive=True) if dist == "exponential" else 0.0
        lo = lt.int_("min_allocs") if dist == "uniform" else 0
        hi = lt.int_("max_allocs") if dist == "uniform" else 0
        if hi < lo:
            self.fail("lifetime.max_allocs", f"must be at least min_allocs ({lo}), not {hi}")
        return Lifetime(survive, dist, mean, lo, hi)

    def types(self, top: _Table, lifetime: Lifetime) -> tuple[ObjType, ...]:
        raw = top.raw("types")
        if raw is None:
            self.fail("types", "required: at least one [[types]] table")
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            self.fail("types", f"must be an array of tables ([[types]]), not {_kind(raw)}")
        if not raw:
            self.fail("types", "must list at least one type")
        out: list[ObjType] = []
        seen: set[str] = set()
        for i, data in enumerate(raw):
            path = f"types[{i}]"
            t = _Table(self, path, data, ("name", "size", "pointers", "weight", "survive"))
            name = t.raw("name")
            if name is None:
                self.fail(f"{path}.name", "required")
            if not isinstance(name, str) or not _IDENT.match(name) or name in BASIC:
                shown = repr(name) if isinstance(name, str) else _kind(name)
                self.fail(f"{path}.name", f"must be a Go identifier like Node, not {shown}")
            if name in seen:
                self.fail(f"{path}.name", f"type {name} is declared twice")
            seen.add(name)
            size = t.size("size")
            if size is None:
                self.fail(f"{path}.size", 'required (a positive size like 64 or "1KiB")')
            pointers = t.int_("pointers", 0, lo=0)
            if pointers * 8 > size:
                self.fail(
                    f"{path}.size",
                    f"{size} bytes is too small for {pointers} pointers ({pointers * 8} bytes)",
                )
            if pointers and size % 8:
                self.fail(
                    f"{path}.size",
                    f"must be a multiple of 8 for a type with pointers "
                    f"(Go would round {size} up to {-(-size // 8) * 8})",
                )
            weight = t.number("weight", 1.0, positive=True)
            survive = t.fraction("survive", lifetime.survive)
            out.append(ObjType(name, size, pointers, weight, survive))
        return tuple(out)

    def live(self, top: _Table, types: tuple[ObjType, ...]) -> tuple[str, int, int]:
        survivors = any(t.survive > 0 for t in types)
        most = max(t.pointers for t in types)
        if not top.has("live"):
            if survivors:
                self.fail("live.max_objects", "required when objects survive")
            return "ring", most, 0
        lv = _Table(self, "live", top.raw("live"), ("shape", "fanout", "max_objects"))
        shape = lv.choice("shape", SHAPES, "ring")
        fanout = lv.int_("fanout", most)
        if lv.has("fanout") and shape not in ("tree", "graph"):
            self.fail("live.fanout", f"only for shape = 'tree' or 'graph', not {shape!r}")
        if not lv.has("max_objects") and survivors:
            self.fail("live.max_objects", "required when objects survive")
        return shape, fanout, lv.int_("max_objects", 0, lo=1)


def parse_size(v: Any) -> int | None:
    """64, "64", "1KiB", "2MiB" -> bytes; None if v is not a size."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        m = _SIZE_RE.match(v)
        if m:
            return int(m.group(1)) * _UNITS[m.group(2)]
    return None


def parse_rate(v: Any) -> int | None:
    """1048576 or "1MiB/s" -> bytes per second; None if v is not a rate."""
    if isinstance(v, str):
        m = _RATE_RE.match(v)
        return int(m.group(1)) * _UNITS[m.group(2)] if m else None
    return parse_size(v)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v!r}"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


def _split(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


# -- the program -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What one worker did in the last run (the Python-side bookkeeping, for checks)."""

    index: int
    allocs: int  # objects allocated
    nbytes: int  # bytes requested
    by_type: tuple[int, ...]  # allocations per type, in spec order
    survivors: int  # objects linked into the live structure
    dropped: int  # would-be survivors that died at once (live set full of longer-lived ones)
    expired: int  # unlinked because their lifetime was over
    evicted: int  # unlinked early because the live set was full
    extra_stores: int  # extra pointer stores made
    skipped_stores: int  # extra stores with no object to store into
    loads: int  # pointer loads (walks, unlinks)
    stores: int  # pointer stores into heap objects and globals (links, unlinks, extra)
    max_live: int  # largest live set seen
    entries: int  # live objects in root slots at the end
    live_addrs: tuple[int, ...]  # addresses of the live objects at the end


class WorkloadProgram(Program):
    """The Program build_program makes: it also keeps the workers' last reports."""

    def __init__(self, workload: Workload, seed: int) -> None:
        super().__init__(workload.name)
        self.workload = workload
        self.seed = seed
        self.reports: dict[int, WorkerReport] = {}  # worker index -> report of the last run

    def run(self, main: Any = "main", **kwargs: Any) -> RunResult:
        self.reports = {}
        return super().run(main, **kwargs)


@dataclass(frozen=True, slots=True)
class _TypeInfo:
    index: int
    name: str
    size: int
    pointers: int
    survive: float
    fields: tuple[str, ...]  # "p0", "p1", ...
    slots: dict[str, str] = field(compare=False)  # role -> frame slot name


def build_program(
    workload: Workload, *, seed: int | None = None
) -> tuple[WorkloadProgram, dict[str, Any]]:
    """A Program that does what workload says, and the options to run it with."""
    w = workload
    seed = w.seed if seed is None else seed
    prog = WorkloadProgram(w, seed)
    infos: list[_TypeInfo] = []
    for i, t in enumerate(w.types):
        fields = {f"p{k}": "unsafe.Pointer" for k in range(t.pointers)}
        if t.size > 8 * t.pointers:
            fields["pad"] = f"[{t.size - 8 * t.pointers}]byte"
        prog.struct(t.name, **fields)
        slots = {role: f"{role}_{t.name}" for role in ROLES}
        infos.append(
            _TypeInfo(i, t.name, t.size, t.pointers, t.survive, tuple(fields)[: t.pointers], slots)
        )
    caps = w.caps()
    prog.globals(**{f"roots{i}": "[]unsafe.Pointer" for i, c in enumerate(caps) if c})

    locals_ = {"id": "int", "table": "[]unsafe.Pointer"}
    for info in infos:
        for slot in info.slots.values():
            locals_[slot] = f"*{info.name}"

    @prog.func(locals=locals_, args=("id",), name="worker")
    def worker(g: Goroutine, f: FrameView) -> None:
        i = f.id
        _Worker(prog, g, f, i, infos, caps[i], seed).run()

    @prog.func(name="main")
    def main(g: Goroutine, f: FrameView) -> None:
        for i in range(w.goroutines):
            g.go(worker, i)

    del main
    opts = w.run_options(seed)
    return prog, opts


class _Obj:
    """Bookkeeping of one live object (data for choosing; its pointers live in the heap)."""

    __slots__ = ("seq", "addr", "t", "key", "kids", "fixed", "preds", "slot")

    def __init__(self, seq: int, addr: int, t: _TypeInfo, death: int) -> None:
        self.seq = seq
        self.addr = addr
        self.t = t
        self.key = (death, seq)  # death order; every edge goes from a smaller key to a larger
        self.kids: list[_Obj | None] = [None] * t.pointers  # what field k points to
        self.fixed = [False] * t.pointers  # field k holds a shape edge (stores leave it alone)
        self.preds: dict[tuple[int, int], _Obj] = {}  # (pred seq, field) -> live pred
        self.slot = -1  # root slot index when an entry, else -1

    def free_fields(self, ks: range) -> list[int]:
        """Fields among ks that a shape edge may take: nil or holding a store's edge."""
        return [k for k in ks if not self.fixed[k]]


class _Bag:
    """A set of objects with O(1) add, remove and choice by index (swap with the last)."""

    __slots__ = ("items", "where")

    def __init__(self) -> None:
        self.items: list[_Obj] = []
        self.where: dict[int, int] = {}  # seq -> index in items

    def add(self, o: _Obj) -> None:
        self.where[o.seq] = len(self.items)
        self.items.append(o)

    def remove(self, o: _Obj) -> None:
        i = self.where.pop(o.seq)
        last = self.items.pop()
        if last is not o:
            self.items[i] = last
            self.where[last.seq] = i


class _Worker:
    """One worker goroutine's loop and its bookkeeping for one run."""

    def __init__(
        self,
        prog: WorkloadProgram,
        g: Goroutine,
        f: FrameView,
        index: int,
        infos: list[_TypeInfo],
        cap: int,
        seed: int,
    ) -> None:
        w = prog.workload
        self.prog, self.g, self.f, self.w = prog, g, f, w
        self.index = index
        self.infos = infos
        self.cap = cap
        self.rng = random.Random(f"{seed}:{index}")
        total = 0.0
        self.cum: list[float] = []
        for t in w.types:
            total += t.weight
            self.cum.append(total)
        self.held: dict[str, _TypeInfo | None] = dict.fromkeys(ROLES)  # role -> type in its slot
        self.live: dict[int, _Obj] = {}  # seq -> object
        self.order: list[tuple[tuple[int, int], _Obj]] = []  # heap by key: next to die first
        self.entries = _Bag()  # live objects in root slots
        self.ptr_entries = _Bag()  # the entries with pointer fields (where walks start)
        self.ptr_heap: list[tuple[tuple[int, int], _Obj]] = []  # them by key, lazily pruned
        self.free_slots = list(range(cap))  # a heap: lowest free root slot first
        self.reuse = -1  # the root slot of the object being unlinked, until an orphan takes it
        self.hand: _Obj | None = None  # list shape: newest live survivor with pointers
        self.recent: _Obj | None = None  # newest live survivor (target of extra stores)
        self.seq = 0
        self.n = 0  # allocations so far (lifetimes count them)
        self.nbytes = 0
        self.by_type = [0] * len(infos)
        self.survivors = self.dropped = self.expired = self.evicted = 0
        self.extra = self.skipped = self.loads = self.stores = self.max_live = 0

    # -- frame slots -------------------------------------------------------------

    def put(self, role: str, t: _TypeInfo, value: Any) -> None:
        """Write a pointer into role's slot typed *t (a frame write: no operation)."""
        old = self.held[role]
        if old is not None and old is not t:
            setattr(self.f, old.slots[role], None)
        setattr(self.f, t.slots[role], value)
        self.held[role] = t if value is not None else None

    def get(self, role: str) -> Ptr:
        t = self.held[role]
        assert t is not None, f"workload: role {role} is empty"
        value: Ptr = getattr(self.f, t.slots[role])
        return value

    def clear(self, role: str) -> None:
        t = self.held[role]
        if t is not None:
            setattr(self.f, t.slots[role], None)
            self.held[role] = None

    def load_entry(self, role: str, e: _Obj, slot: int = -1) -> None:
        """role = (*T)(roots[e.slot]) (or roots[slot]): one load."""
        self.put(role, e.t, self.g.load(self.f.table, e.slot if slot < 0 else slot))
        self.loads += 1

    def load_field(self, role: str, frm: str, k: int, kid: _Obj) -> None:
        """role = (*T)(frm.pk): one load."""
        src = self.held[frm]
        assert src is not None
        self.put(role, kid.t, self.g.load(self.get(frm), src.fields[k]))
        self.loads += 1

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        g, w = self.g, self.w
        if self.cap:
            self.f.table = g.make("[]unsafe.Pointer", self.cap)
            g.store_global(f"roots{self.index}", self.f.table)
            self.stores += 1
        share_allocs = _split(w.allocs, w.goroutines)[self.index] if w.allocs else 0
        share_bytes = _split(w.nbytes, w.goroutines)[self.index] if w.nbytes else 0
        while (self.n < share_allocs) if w.allocs else (self.nbytes < share_bytes):
            self.step()
        self.clear("hand")
        self.clear("recent")
        self.prog.reports[self.index] = WorkerReport(
            index=self.index,
            allocs=self.n,
            nbytes=self.nbytes,
            by_type=tuple(self.by_type),
            survivors=self.survivors,
            dropped=self.dropped,
            expired=self.expired,
            evicted=self.evicted,
            extra_stores=self.extra,
            skipped_stores=self.skipped,
            loads=self.loads,
            stores=self.stores,
            max_live=self.max_live,
            entries=len(self.entries.items),
            live_addrs=tuple(sorted(o.addr for o in self.live.values())),
        )

    def step(self) -> None:
        w, rng = self.w, self.rng
        while self.order and self.order[0][0][0] <= self.n:
            self.unlink(heapq.heappop(self.order)[1])
            self.expired += 1
        x = rng.random() * self.cum[-1]
        t = self.infos[min(bisect.bisect_right(self.cum, x), len(self.infos) - 1)]
        self.put("obj", t, self.g.new(t.name))
        addr = self.get("obj").addr  # bookkeeping only: operations read the slot again
        self.n += 1
        self.nbytes += t.size
        self.by_type[t.index] += 1
        if t.survive and rng.random() < t.survive:
            life = self.lifetime()
            if life:
                death = FOREVER if life == FOREVER else self.n - 1 + life
                self.survive(_Obj(self.seq, addr, t, death))
                self.seq += 1
        whole, frac = divmod(w.store_rate, 1.0)
        for _ in range(int(whole) + (rng.random() < frac if frac else 0)):
            self.extra_store()
        for role in SCRATCH:
            self.clear(role)  # dead after this step, as Go's stack maps would say
        if w.alloc_rate:
            self.g.work(t.size * 1_000_000_000 // w.alloc_rate)

    def lifetime(self) -> int:
        """Allocations the new survivor stays live (0: it dies at once); FOREVER for forever."""
        lt = self.w.lifetime
        if lt.distribution == "exponential":
            return max(0, round(self.rng.expovariate(1.0 / lt.mean_allocs)))
        if lt.distribution == "uniform":
            return self.rng.randint(lt.min_allocs, lt.max_allocs)
        return FOREVER

    # -- linking -----------------------------------------------------------------

    def survive(self, n: _Obj) -> None:
        """Link the new object (in slot obj) into the live structure by the shape."""
        if not self.cap:
            self.dropped += 1
            return
        if len(self.live) == self.cap:
            first = self.order[0][1]
            if n.key < first.key:
                self.dropped += 1  # it would be the next to die: it dies at once
                return
            heapq.heappop(self.order)
            self.unlink(first)
            self.evicted += 1
        self.live[n.seq] = n
        heapq.heappush(self.order, (n.key, n))
        self.survivors += 1
        self.max_live = max(self.max_live, len(self.live))
        shape = self.w.shape
        linked = False
        if shape == "list":
            linked = self.link_to_hand(n)
        elif shape in ("tree", "graph"):
            linked = self.link_in_tree(n)
        if not linked:
            self.make_entry(n, "obj")
        if shape == "list" and n.t.pointers:
            self.hand = n
            self.put("hand", n.t, self.get("obj"))
        self.recent = n
        self.put("recent", n.t, self.get("obj"))
        if shape == "graph":
            self.extra_store(counted=False)

    def link_to_hand(self, n: _Obj) -> bool:
        """hand.p0 = n (the next node), or hand.pk = n for k >= 1 if n has no pointers."""
        h = self.hand
        if h is None or h.key > n.key:
            return False
        free = h.free_fields(range(1) if n.t.pointers else range(1, h.t.pointers))
        if not free:
            return False
        self.set_field("hand", h, free[0], "obj", n, fixed=True)
        return True

    def link_in_tree(self, n: _Obj, n_role: str = "obj", start: _Obj | None = None) -> bool:
        """Link n (in n_role, maybe with a subtree) below start, default the root.

        The tree is heap-ordered by death (a parent dies before its children), so
        this is the insertion of a randomized meldable heap. The root is the
        earliest-dying entry with pointers; if n dies before it, n takes the
        root's slot and adopts it. Otherwise the walk picks a random field at each
        object: a free field takes the pending subtree; a child that dies after
        it is displaced (the pending subtree takes its field and the child becomes
        pending, to be placed below); an earlier-dying child with room is the next
        step. It fails (False; the caller makes the pending object an entry) only
        where every field holds an earlier-dying object without pointers.
        """
        if start is None:
            start = self.root()
            if start is None:
                return False
            if start.key > n.key:
                free = n.free_fields(self.child_fields(n))
                if not free:
                    return False
                self.load_entry("d", start)
                self.set_field(n_role, n, free[0], "d", start, fixed=True)  # n.pj = root
                self.reuse = start.slot
                self.drop_entry(start)
                self.make_entry(n, n_role)  # roots[slot] = n
                return True
        a, p, p_role = start, n, n_role  # the cursor, and the pending subtree's root
        self.load_entry("a", a)
        rng = self.rng
        while True:
            options = []
            for k in self.child_fields(a):
                c = a.kids[k]
                if c is None or not a.fixed[k]:
                    options.append((k, "attach"))
                elif c.key > p.key:
                    if p.t.pointers:
                        options.append((k, "displace"))
                elif self.has_room(c, p):
                    options.append((k, "descend"))
            if not options:
                if p is not n:
                    self.make_entry(p, p_role)  # a displaced subtree with nowhere to go
                    return True
                return False
            k, how = options[rng.randrange(len(options))]
            c = a.kids[k]
            if how == "attach":
                self.set_field("a", a, k, p_role, p, fixed=True)
                return True
            assert c is not None
            if how == "displace":
                c_role = "d" if p_role != "d" else "c"
                self.load_field(c_role, "a", k, c)
                self.set_field("a", a, k, p_role, p, fixed=True, carried=True)
                self.put("a", p.t, self.get(p_role))  # the walk goes on below p
                a, p, p_role = p, c, c_role
                continue
            self.load_field("a", "a", k, c)
            a = c

    def has_room(self, c: _Obj, p: _Obj) -> bool:
        """The walk can do something at c for p (looking one level ahead)."""
        for k in self.child_fields(c):
            kid = c.kids[k]
            if kid is None or not c.fixed[k] or kid.t.pointers or kid.key > p.key:
                return True
        return False

    def child_fields(self, o: _Obj) -> range:
        """The fields a tree or graph uses for children (live.fanout of them at most)."""
        return range(min(self.w.fanout, o.t.pointers))

    def root(self) -> _Obj | None:
        """The earliest-dying entry with pointers (the tree's root)."""
        heap = self.ptr_heap
        while heap and heap[0][1].slot < 0:
            heapq.heappop(heap)  # no longer an entry
        return heap[0][1] if heap else None

    def extra_store(self, *, counted: bool = True) -> None:
        """Store the newest survivor into a free field of an earlier-dying object.

        The object is found by a walk from a random entry: each step (to a random
        child that dies earlier than the survivor) is taken with probability 1/2, and
        the walk goes on while the object it stands on has no free field. A walk
        that gets stuck is tried again from another entry (WALK_TRIES in all); if
        every try is stuck, the store is skipped (WorkerReport.skipped_stores).
        """
        b = self.recent

        def ok(o: _Obj) -> bool:
            return o is not b and o.t.pointers > 0 and b is not None and o.key < b.key

        def leads(o: _Obj) -> bool:  # ok, and the walk can stop at o or go on below it
            return ok(o) and any(
                not o.fixed[k] or (c is not None and ok(c)) for k, c in enumerate(o.kids)
            )

        rng = self.rng
        for _ in range(WALK_TRIES if b is not None else 0):
            a = self.pick_entry(leads)
            if a is None:
                break
            self.load_entry("a", a)
            while True:
                free = a.free_fields(range(a.t.pointers))
                if free and rng.random() >= 0.5:
                    break
                steps = [k for k, c in enumerate(a.kids) if c is not None and leads(c)]
                if not steps:
                    break
                k = steps[rng.randrange(len(steps))]
                c = a.kids[k]
                assert c is not None
                self.load_field("a", "a", k, c)
                a = c
            if free:
                assert b is not None
                self.set_field("a", a, free[rng.randrange(len(free))], "recent", b, fixed=False)
                self.extra += counted
                return
        self.skipped += counted

    def pick_entry(self, ok: Callable[[_Obj], bool]) -> _Obj | None:
        """A random entry that ok accepts (a few tries, so choosing stays O(1))."""
        for _ in range(ENTRY_TRIES):
            if not self.ptr_entries.items:
                return None
            e = self.ptr_entries.items[self.rng.randrange(len(self.ptr_entries.items))]
            if ok(e):
                return e
        return None

    # -- the live structure's bookkeeping -----------------------------------------

    def set_field(
        self,
        role: str,
        a: _Obj,
        k: int,
        value_role: str,
        b: _Obj,
        *,
        fixed: bool,
        carried: bool = False,
    ) -> None:
        """role.pk = value_role (a is in role, b in value_role): a heap pointer store.

        What the field held loses a predecessor; if that was its last, it takes a
        root slot (it is loaded first, so it stays reachable from the frame), unless
        the caller carries it on (carried: it is in a frame slot already).
        """
        old = a.kids[k]
        orphan = False
        if old is not None:
            del old.preds[(a.seq, k)]
            orphan = not carried and old is not b and not old.preds and old.slot < 0
            if orphan:
                self.load_field("o", role, k, old)
        if a.key >= b.key:
            raise AssertionError(f"workload.set_field: {a.key} -> {b.key} breaks death order")
        t = self.held[role]
        assert t is not None
        self.g.store(self.get(role), t.fields[k], self.get(value_role))
        self.stores += 1
        a.kids[k] = b
        a.fixed[k] = fixed
        b.preds[(a.seq, k)] = a
        if orphan and old is not None:
            self.make_entry(old, "o")

    def make_entry(self, o: _Obj, role: str) -> None:
        """roots[slot] = role (o): o takes the slot a dying object left, or a free one."""
        if self.reuse >= 0:
            slot, self.reuse = self.reuse, -1
        else:
            slot = heapq.heappop(self.free_slots)
        self.g.store(self.f.table, slot, self.get(role))
        self.stores += 1
        o.slot = slot
        self.entries.add(o)
        if o.t.pointers:
            self.ptr_entries.add(o)
            heapq.heappush(self.ptr_heap, (o.key, o))

    def drop_entry(self, o: _Obj) -> None:
        """o leaves the root slots (its slot is being overwritten or cleared)."""
        o.slot = -1
        self.entries.remove(o)
        if o.t.pointers:
            self.ptr_entries.remove(o)

    def unlink(self, x: _Obj) -> None:
        """x dies: its children without another shape predecessor are re-placed, then
        its root slot is cleared (or taken by the first of them)."""
        if x.preds or x.slot < 0:
            raise AssertionError(f"workload.unlink: object {x.seq} is not only a root")
        del self.live[x.seq]
        if self.hand is x:
            self.hand = None
            self.clear("hand")
        if self.recent is x:
            self.recent = None
            self.clear("recent")
        for k, c in enumerate(x.kids):
            if c is not None:
                del c.preds[(x.seq, k)]
        # Children left without a shape predecessor (a store's edge does not count).
        orphans: list[tuple[int, _Obj]] = []
        for k, c in enumerate(x.kids):
            if (
                c is not None
                and c.slot < 0
                and not any(a.fixed[j] for (_, j), a in c.preds.items())
                and all(c is not o for _, o in orphans)
            ):
                orphans.append((k, c))
        self.reuse = x.slot
        self.drop_entry(x)
        if not orphans:
            self.g.store(self.f.table, self.reuse, None)
            self.stores += 1
            heapq.heappush(self.free_slots, self.reuse)
            self.reuse = -1
            return
        self.load_entry("x", x, self.reuse)
        orphans.sort(key=lambda kc: kc[1].key)
        top: _Obj | None = None  # tree, graph: the earliest-dying orphan with pointers
        for k, c in orphans:
            self.load_field("c", "x", k, c)
            if top is not None and self.link_in_tree(c, "c", top):
                continue  # merged below top: the shape stays one tree
            self.make_entry(c, "c")
            if top is None and c.t.pointers and self.w.shape in ("tree", "graph"):
                top = c
        self.clear("x")
        self.clear("c")
