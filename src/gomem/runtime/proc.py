"""Goroutines, Ps and the scheduler. Models the parts of runtime/proc.go
(go1.24) that memory management depends on: G, M and P, newproc/goexit with
the P's free-G list, stop/start the world, and a deterministic scheduler.
See docs/ARCHITECTURE.md.

Concurrency is an interleaving. Each goroutine body is ordinary Python
that runs in its own greenlet; every runtime operation it performs starts
with a *switch point* (Sched.switch_point), where the scheduler decides
which goroutine performs the next operation and switches to it. So two
goroutines on two Ps interleave at operation granularity, exactly in the
order the policy says:

    roundrobin   the running goroutines take turns, one operation each
    random       a seeded random running goroutine each step
    script       an explicit list of goroutine ids (or names), one per step

GOMAXPROCS Ps each run at most one goroutine; a goroutine that is not on
a P waits in the global run queue (FIFO) and gets a P when one is free,
or when the goroutine on it has used up its 10 ms time slice (sysmon's
preemption, forcePreemptNS). A P's mcache (and page and stack caches)
serve the goroutine it runs.

Time is simulated: each P has a clock in nanoseconds that advances by the
cost of each operation its goroutine performs (runtime.cost), and by the
page faults the goroutine causes (counted between its switch points); the
process's clock `now` is the latest of them. A stop-the-world pause
brings every P to `now`, adds the pause, and is recorded with its reason.

The schedule digest is a SHA-256 over the goroutine id of every step:
equal digests mean equal interleavings.

Simplified: no Ms beyond m0 (threads do not matter to memory here, except
that g0 of m0 runs on the process's [stack]); no syscalls, network
poller, timers or work stealing; local run queues are folded into the
global one; goroutines block only by finishing (channels and locks are
out of scope).
"""

from __future__ import annotations

import hashlib
import random
import sys
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import greenlet  # type: ignore[import-untyped]

from gomem.runtime.mem_linux import RuntimeThrow
from gomem.runtime.stack import STACK_GUARD, Frame, Stack
from gomem.runtime.type import UINTPTR, UNSAFE_POINTER, Type, struct_of

if TYPE_CHECKING:
    from gomem.runtime.mcache import MCache

FORCE_PREEMPT_NS = 10_000_000  # forcePreemptNS: a goroutine's time slice
SIZEOF_G = 440  # runtime.g on amd64, go1.24 (DWARF of a real binary): class 448


def _g_record_type() -> Type:
    """runtime.g as a heap object: 440 bytes; its first pointer fields are _panic (32),
    _defer (40), m (48) and sched.ctxt (80). Later pointer fields are not modelled."""
    words = [UINTPTR] * (SIZEOF_G // 8)
    for off in (32, 40, 48, 80):
        words[off // 8] = UNSAFE_POINTER
    return struct_of(*((f"w{i}", t) for i, t in enumerate(words)), name="runtime.g")


G_RECORD = _g_record_type()
G0_STACK_SIZE = 16 << 10  # m0's g0 uses 16 KiB of the OS stack (mstart on Linux)


def _le_bytes(goids: list[int]) -> bytes:
    a = array("Q", goids)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


class GStatus(IntEnum):
    """The g states the model uses (_Gidle ... _Gdead)."""

    IDLE = 0
    RUNNABLE = 1  # in the run queue
    RUNNING = 2  # on a P
    WAITING = 4  # stopped (e.g. for a stack scan); not runnable
    DEAD = 6  # finished; kept on a free list with its stack for reuse


@dataclass(eq=False, slots=True)
class G:
    """g: a goroutine."""

    goid: int
    name: str  # the function it started with
    stack: Stack
    stackguard0: int  # stack.lo + STACK_GUARD
    sched_sp: int  # the simulated %rsp: the lowest byte in use is at sched_sp
    status: GStatus = GStatus.IDLE
    frames: list[Frame] = field(default_factory=list)  # innermost last
    p: P | None = None  # the P running it
    slice_start_ns: int = 0  # P clock when its current time slice began
    gc_assist_bytes: int = 0  # assist credit (the collector uses it)
    glet: Any = None  # the greenlet running its body
    fresh: bool = True  # chosen to run, not yet started
    epoch: int = 0  # operations begun (the program API's precise-roots check uses it)
    fault_mark: int = 0  # the process's minor-fault count when it last resumed
    addr: int = 0  # the g record in the heap (malg's new(g)); kept when the G is reused
    stack_scanned: bool = False  # this cycle's mark has scanned its stack (black stack)
    system: bool = False  # a runtime goroutine (a GC mark worker), not the program's
    inflight: int = 0  # an allocation's result not yet in a frame (a register, in Go): a root

    @property
    def stack_used(self) -> int:
        return self.stack.hi - self.sched_sp


@dataclass(eq=False, slots=True)
class P:
    """p: a processor, with its caches."""

    id: int
    mcache: MCache
    g: G | None = None  # the goroutine it runs (curg of its M)
    clock_ns: int = 0  # simulated time on this P
    gfree: list[G] = field(default_factory=list)  # dead Gs with a starting-size stack
    gc_fractional_mark_ns: int = 0  # gcFractionalMarkTime: this cycle's fractional work


@dataclass(frozen=True, slots=True)
class Pause:
    """One stop-the-world pause."""

    reason: str
    start_ns: int
    duration_ns: int


class Policy:
    """Which running goroutine performs the next operation."""

    # The choice among one running goroutine needs no decision (a script still
    # lists every step, so it is not free).
    free_when_alone = True

    def choose(self, running: Sequence[G], step: int) -> G:
        raise NotImplementedError


class RoundRobin(Policy):
    free_when_alone = False  # it must remember the lone goroutine as the last one

    def __init__(self) -> None:
        self.last = -1  # goid of the last goroutine chosen

    def choose(self, running: Sequence[G], step: int) -> G:
        # The next goroutine by goid after the last one, wrapping around
        # (running is sorted by goid).
        if len(running) == 1:
            g = running[0]
            self.last = g.goid
            return g
        last = self.last
        for g in running:
            if g.goid > last:
                break
        else:
            g = running[0]
        self.last = g.goid
        return g


class Random(Policy):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def choose(self, running: Sequence[G], step: int) -> G:
        return running[self.rng.randrange(len(running))]  # running is sorted by goid


class Script(Policy):
    """An explicit schedule: entry i names the goroutine (id or name) of step i.

    When the script runs out, round robin takes over (or, with strict=True,
    running past the end is an error).
    """

    free_when_alone = False

    def __init__(self, steps: Sequence[int | str], *, strict: bool = False) -> None:
        self.steps = list(steps)
        self.strict = strict
        self.after = RoundRobin()

    def choose(self, running: Sequence[G], step: int) -> G:
        if step >= len(self.steps):
            if self.strict:
                raise RuntimeThrow(f"schedule script: no entry for step {step}")
            return self.after.choose(running, step)
        want = self.steps[step]
        for g in running:
            if g.goid == want or g.name == want:
                self.after.last = g.goid
                return g
        names = ", ".join(f"{g.goid} ({g.name})" for g in running)
        raise RuntimeThrow(
            f"schedule script: step {step} names {want!r}, which is not running (running: {names})"
        )


def make_policy(name: str, seed: int = 0, script: Sequence[int | str] = ()) -> Policy:
    if name == "roundrobin":
        return RoundRobin()
    if name == "random":
        return Random(seed)
    if name == "script":
        return Script(script)
    raise ValueError(f"unknown schedule policy {name!r} (roundrobin, random or script)")


class Sched:
    """sched: run queue, Ps, the world, and the clock."""

    def __init__(self, ps: list[P], policy: Policy, mm: Any = None, fault_ns: int = 0) -> None:
        self.ps = ps
        self.policy = policy
        self.mm = mm  # the address space whose minor_faults are charged (None: not charged)
        self.fault_ns = fault_ns  # simulated ns per minor page fault
        self.runq: deque[G] = deque()  # runnable goroutines without a P
        self.allgs: list[G] = []  # every goroutine ever made (allgs)
        self.goid_gen = 0
        self.steps = 0  # operations performed so far
        self._digest = hashlib.sha256()
        self._trace: list[int] = []  # goids of the steps not yet hashed
        self.pauses: list[Pause] = []
        self.world_stopped = False
        self.main = greenlet.getcurrent()  # the scheduler's own greenlet
        self.current: G | None = None  # the goroutine performing the current operation
        self._running: list[G] | None = None  # running(), cached until a P changes hands
        # System goroutines that run beside the Ps' goroutines (the background
        # sweeper), each with a P of its own for its clock (not one of GOMAXPROCS's Ps).
        self.workers: list[G] = []
        # The collector's hooks into schedule() while it marks (None otherwise):
        # gc_worker(p) is findRunnableGCWorker (a dedicated or fractional mark
        # worker for p, tried before the run queue), idle_worker(p) the idle mark
        # worker an idle P runs when nothing else is runnable.
        self.gc_worker: Callable[[P], G | None] | None = None
        self.idle_worker: Callable[[P], G | None] | None = None
        self.resched: list[P] = []  # Ps that go through schedule() at the next step

    # -- time ----------------------------------------------------------------

    @property
    def now(self) -> int:
        """The process's simulated time: the latest P clock, in ns."""
        t = max(p.clock_ns for p in self.ps)
        for w in self.workers:
            if w.p is not None and w.p.clock_ns > t:
                t = w.p.clock_ns
        return t

    def digest(self) -> str:
        """SHA-256 of the goid of every step (8-byte little-endian each), first 16 hex digits."""
        d = self._digest.copy()
        d.update(_le_bytes(self._trace))
        return d.hexdigest()[:16]

    def stop_the_world(self, reason: str, pause_ns: int) -> Pause:
        """stopTheWorld + startTheWorld: every P waits until now, then pause_ns more."""
        if self.world_stopped:
            raise RuntimeThrow("stopTheWorld: world already stopped")
        start = self.now
        for p in self.ps:
            p.clock_ns = start + pause_ns
        for w in self.workers:
            if w.p is not None:
                w.p.clock_ns = start + pause_ns
        pause = Pause(reason, start, pause_ns)
        self.pauses.append(pause)
        return pause

    # -- goroutines ----------------------------------------------------------

    def new_goid(self) -> int:
        self.goid_gen += 1
        return self.goid_gen

    def make_runnable(self, g: G) -> None:
        """Put g on an idle P, or at the tail of the run queue."""
        g.status = GStatus.RUNNABLE
        for p in self.ps:
            if p.g is None:
                p.clock_ns = max(p.clock_ns, self.now)  # an idle P wakes up now
                self._put_on(g, p)
                return
        self.runq.append(g)

    def _put_on(self, g: G, p: P) -> None:
        self._running = None
        p.g = g
        g.p = p
        g.status = GStatus.RUNNING
        g.slice_start_ns = p.clock_ns

    def running(self) -> list[G]:
        """The goroutines on Ps and the workers beside them, sorted by goid."""
        gs = [p.g for p in self.ps if p.g is not None]
        gs.extend(self.workers)
        return sorted(gs, key=lambda g: g.goid)

    def add_worker(self, g: G, p: P) -> None:
        """Run g beside the Ps' goroutines, on its own P p (a GC mark worker)."""
        p.clock_ns = max(p.clock_ns, self.now)
        g.p = p
        p.g = g
        g.status = GStatus.RUNNING
        self.workers.append(g)
        self._running = None

    def park(self, g: G) -> None:
        """gopark: g stops being runnable; returns once ready(g) and the policy picks it."""
        p = g.p
        g.status = GStatus.WAITING
        g.p = None
        self._running = None
        if p is not None and p.g is g:
            p.g = None
            self.schedule(p)
        nxt = self.pick()
        if nxt is None and self.idle_worker is not None:
            for q in self.ps:  # every P is idle: the collector may still have work for one
                if q.g is None:
                    self.schedule(q)
            nxt = self.pick()
        if nxt is None:
            raise RuntimeThrow(f"park: goroutine {g.goid} parked and nothing can run (deadlock)")
        self.current = nxt
        nxt.glet.switch()
        self.current = g
        if self.mm is not None:
            g.fault_mark = self.mm.minor_faults

    def ready(self, g: G) -> None:
        """goready: a parked goroutine becomes runnable again."""
        if g.status != GStatus.WAITING:
            raise RuntimeThrow(f"ready: goroutine {g.goid} is not waiting")
        self.make_runnable(g)

    def schedule(self, p: P) -> None:
        """schedule() on p, which has no goroutine: a dedicated or fractional mark
        worker first (while the collector marks), then the head of the run queue,
        else an idle mark worker; else p stays idle."""
        self._running = None
        if self.gc_worker is not None and (w := self.gc_worker(p)) is not None:
            self._put_on(w, p)
        elif self.runq:
            self._put_on(self.runq.popleft(), p)
        elif self.idle_worker is not None and (w := self.idle_worker(p)) is not None:
            self._put_on(w, p)

    def _to_runq(self, p: P) -> None:
        """p's goroutine leaves it for the tail of the run queue (p is left empty)."""
        g = p.g
        assert g is not None
        g.status = GStatus.RUNNABLE
        g.p = None
        p.g = None
        self.runq.append(g)

    def _yield_p(self, p: P) -> None:
        """gopreempt_m: p's goroutine goes to the tail of the run queue; p schedules."""
        self._to_runq(p)
        self.schedule(p)

    def _reschedule(self) -> None:
        """The Ps in resched go through schedule(), as every P does when the world
        starts again: an idle P looks for work; a busy one hands its goroutine
        back to the run queue if findRunnableGCWorker has a mark worker for it.

        Simplified: Go sends every goroutine through the global run queue here;
        the model moves only those a mark worker displaces.
        """
        ps, self.resched = self.resched, []
        for p in ps:
            g = p.g
            if g is None:
                self.schedule(p)
            elif not g.system and self.gc_worker is not None:
                w = self.gc_worker(p)
                if w is not None:
                    self._to_runq(p)
                    self._put_on(w, p)

    def _preempt_expired(self) -> None:
        """sysmon: a goroutine past its time slice yields its P (to the run queue
        and, while the collector marks, maybe to a mark worker)."""
        if self.resched:
            self._reschedule()
        if not self.runq and self.gc_worker is None:
            return
        for p in self.ps:
            g = p.g
            if g is not None and not g.system and p.clock_ns - g.slice_start_ns >= FORCE_PREEMPT_NS:
                self._yield_p(p)

    def pick(self) -> G | None:
        """The goroutine that performs the next operation (None when all are done)."""
        if self.runq or self.gc_worker is not None or self.resched:
            self._preempt_expired()
        running = self._running
        if running is None:
            running = self._running = self.running()
        if not running:
            return None
        if len(running) == 1 and self.policy.free_when_alone:
            g = running[0]
        else:
            g = self.policy.choose(running, self.steps)
        self.steps += 1
        # Hot path: goids are hashed in batches (see digest).
        trace = self._trace
        trace.append(g.goid)
        if len(trace) >= 4096:
            self._digest.update(_le_bytes(trace))
            trace.clear()
        return g

    def exit_g(self, g: G) -> None:
        """goexit: g is done; its P takes the next runnable goroutine."""
        p = g.p
        self._running = None
        g.status = GStatus.DEAD
        g.p = None
        if g.system:
            g.glet = None
        if g in self.workers:
            self.workers.remove(g)
            return
        if p is not None:
            p.g = None
            self.schedule(p)

    # -- running -------------------------------------------------------------

    def start(self, g: G, body: Callable[[], Any]) -> None:
        """Give g a greenlet that runs body; the scheduler will switch to it."""

        g.glet = greenlet.greenlet(body, parent=self.main)
        g.fresh = True

    def switch_point(self, g: G) -> None:
        """Called by g before each operation: let the policy choose who goes next.

        Returns when g is chosen to perform its operation.
        """
        if g.fresh:  # just started: it was chosen already
            g.fresh = False
            return
        # Sched.pick, inlined (hot path: once per operation).
        if self.runq or self.gc_worker is not None or self.resched:
            self._preempt_expired()
        running = self._running
        if running is None:
            running = self._running = self.running()
        if not running:
            raise RuntimeThrow("switch_point: no running goroutine")
        policy = self.policy
        if len(running) == 1 and policy.free_when_alone:
            nxt = running[0]
        else:
            nxt = policy.choose(running, self.steps)
        self.steps += 1
        trace = self._trace
        trace.append(nxt.goid)
        if len(trace) >= 4096:
            self._digest.update(_le_bytes(trace))
            trace.clear()
        # Page faults since g last resumed are g's: charge them to its P's clock.
        mm = self.mm
        if mm is not None and mm.minor_faults != g.fault_mark:
            if g.p is not None:
                g.p.clock_ns += (mm.minor_faults - g.fault_mark) * self.fault_ns
            g.fault_mark = mm.minor_faults
        if nxt is not g:
            self.current = nxt
            nxt.glet.switch()
            self.current = g
            if mm is not None:
                g.fault_mark = mm.minor_faults

    def run(self, on_exit: Callable[[G], None]) -> None:
        """Run goroutines until none is left. on_exit(g) frees a finished one."""
        while True:
            g = self.pick()
            if g is None:
                return
            self.current = g
            if self.mm is not None:
                g.fault_mark = self.mm.minor_faults
            g.glet.switch()
            # Back here only when a goroutine's body returned (or raised).
            for done in [p.g for p in self.ps if p.g is not None] + list(self.workers):
                if done.glet is not None and done.glet.dead:
                    self.exit_g(done)
                    if not done.system:  # a runtime goroutine's G stays with the runtime
                        on_exit(done)

    def check_stack(self, g: G) -> None:
        if g.stackguard0 != g.stack.lo + STACK_GUARD:
            raise RuntimeThrow(f"goroutine {g.goid}: stack guard out of step with its stack")
        if not g.stack.lo + STACK_GUARD <= g.sched_sp <= g.stack.hi:
            raise RuntimeThrow(f"goroutine {g.goid}: sp {g.sched_sp:#x} outside its stack")
