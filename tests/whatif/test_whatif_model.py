"""The what-if model (gomem.whatif.model): Go's pacer driven by rates.
Expected values are hand calculations from the pacer's rules."""

from __future__ import annotations

import dataclasses

import pytest

from gomem.whatif.model import Model, Setting, Workload, run

MiB = 1 << 20


def _fast(**kw) -> Workload:
    # Marking so fast that a cycle takes no time: no black allocation, cons/mark ~ 0.
    base = dict(
        live=64 * MiB, alloc_rate=100 * MiB, scan_rate=1e15, stacks=0, globals=0, overhead=0
    )
    base.update(kw)
    return Workload(**base)


def test_steady_gogc_100_cycles_by_hand() -> None:
    # Heap marked 64 MiB: goal 128 MiB. Runway ~0, so the trigger is the upper bound:
    # 61/64 of the way, 64 + 61 = 125 MiB (above goal - 4 MiB = 124 MiB). The first
    # cycle starts at once (the start-up goal is the 4 MiB floor); then one cycle per
    # 61 MiB allocated: 1 GiB in all gives 1 + floor(1024 / 61) = 17 cycles.
    r = run(_fast(), Setting(100), total_alloc=1 << 30)
    assert len(r.cycles) == 17
    # (Plus the few bytes allocated black during each ~0.3 us mark: under 1 KiB.)
    assert all(abs(c.trigger - 125 * MiB) < 1024 for c in r.cycles[1:])
    assert abs(r.final_goal - 128 * MiB) < 1024
    assert r.duration_s == pytest.approx(10.24)  # 1 GiB at 100 MiB/s


def test_gogc_off_without_a_limit_runs_no_cycle() -> None:
    r = run(_fast(), Setting(-1), total_alloc=1 << 30)
    assert r.cycles == [] and r.peak_heap == 64 * MiB + (1 << 30)


def test_a_memory_limit_caps_the_goal() -> None:
    # Limit 100 MiB, nothing but the heap: the goal is the limit less what is not heap
    # object memory (free retained pages), less 3%; never above 97 MiB.
    r = run(_fast(), Setting(100, 100 * MiB), total_alloc=1 << 30)
    assert r.final_goal <= 100 * MiB - 100 * MiB // 100 * 3
    assert len(r.cycles) > 17  # more cycles than GOGC=100 alone (goal 128 MiB)


def test_a_limit_below_the_live_heap_turns_the_cpu_limiter_on() -> None:
    # The death spiral: live 90 MiB under a 64 MiB limit, slow marking. The goal falls
    # to the heap marked, the collector runs back to back, and within a second of GC
    # CPU over 50% the limiter's bucket (1 CPU-second per P) fills.
    w = _fast(live=90 * MiB, scan_rate=200e6, alloc_rate=500 * MiB)
    r = run(w, Setting(100, 64 * MiB), duration=10.0)
    assert r.limiter_engaged
    assert r.gc_cpu_fraction(w.procs) > 0.4


def test_size_classes_set_the_heap_per_requested_byte() -> None:
    # 24-byte objects take class 24's slot; 33 bytes take 48 (a factor of 48/33).
    assert _fast(object_size=24).slot_factor == 1.0
    assert _fast(object_size=33).slot_factor == 48 / 33
    assert _fast(object_size=40000).slot_factor == 40960 / 40000  # 5 pages


def test_same_input_same_output() -> None:
    w = Workload(live=300 * MiB, alloc_rate=200 * MiB, procs=8, mutator_cpus=4)
    a = run(w, Setting(100, 512 * MiB), total_alloc=8 << 30)
    b = run(w, Setting(100, 512 * MiB), total_alloc=8 << 30)
    assert a.samples == b.samples and len(a.cycles) == len(b.cycles)


def test_filling_the_heap_first_adds_the_doubling_cycles() -> None:
    # From an empty heap with GOGC=100 the goal starts at the 4 MiB floor and roughly
    # doubles each cycle while everything allocated stays live: triggers near 3.8,
    # 7.6, 15, 30 and 60 MiB before 64 MiB is reached -- about 5 cycles more than a
    # run that starts with the 64 MiB already allocated (whose first cycle is at once).
    plain = run(_fast(), Setting(100), total_alloc=1 << 30)
    filled = run(_fast(fill=True), Setting(100), total_alloc=1 << 30)
    assert 4 <= len(filled.cycles) - len(plain.cycles) <= 6
    assert filled.cycles[0].trigger == pytest.approx(4 * MiB // 64 * 61, abs=1024)


def test_fresh_memory_costs_the_fault_time_once() -> None:
    # As in the steady test the heap runs from 64 MiB up to the 125 MiB trigger and
    # back each cycle. Only the first climb reaches pages the process never held:
    # 61 MiB at 1 ns a byte adds 61 MiB x 1e-9 s to the 10.24 s; later climbs reuse
    # the retained pages (no memory limit, so nothing is returned to the OS).
    plain = run(_fast(), Setting(100), total_alloc=1 << 30)
    faulting = run(_fast(fault_cost=1e-9), Setting(100), total_alloc=1 << 30)
    assert faulting.duration_s - plain.duration_s == pytest.approx(61 * MiB * 1e-9, rel=1e-4)
    assert len(faulting.cycles) == len(plain.cycles)


def test_a_start_heap_starts_the_first_cycle_at_once() -> None:
    # 32 MiB allocated at the start is far above the 4 MiB floor's trigger: the first
    # cycle starts at t = 0 with the heap at 32 MiB, its goal 64 MiB after it, so the
    # fill needs fewer doubling cycles than from an empty heap.
    empty = run(_fast(fill=True), Setting(100), total_alloc=1 << 30)
    started = run(_fast(fill=True, start_heap=32 * MiB), Setting(100), total_alloc=1 << 30)
    first = started.cycles[0]
    assert (first.start_s, first.trigger) == (0.0, 32 * MiB)
    assert len(started.cycles) < len(empty.cycles)


def test_gc_cpu_to_the_last_cycle_leaves_out_the_tail() -> None:
    # The same GC CPU over a shorter window: the run's end is after the last cycle.
    r = run(_fast(scan_rate=1e9), Setting(100), total_alloc=1 << 30)
    last = r.cycles[-1]
    end = last.start_s + last.mark_s
    assert end < r.duration_s
    want = sum(c.gc_cpu_s for c in r.cycles) / (end * 1)
    assert r.gc_cpu_fraction_to_last_cycle(1) == pytest.approx(want)
    assert r.gc_cpu_fraction_to_last_cycle(1) > r.gc_cpu_fraction(1)


def test_sweeping_costs_the_mutator_its_time_each_cycle() -> None:
    # As in the steady test: 17 cycles, the first at 64 MiB, the others at the 125 MiB
    # trigger (plus under 1 KiB black). Each is followed by sweeping the heap it
    # leaves at 1 ns a byte: 64 MiB + 16 x 125 MiB of sweeping, in seconds x 1e-9.
    plain = run(_fast(), Setting(100), total_alloc=1 << 30)
    swept = run(_fast(sweep_cost=1e-9), Setting(100), total_alloc=1 << 30)
    assert len(swept.cycles) == len(plain.cycles) == 17
    want = (64 * MiB + 16 * 125 * MiB) * 1e-9
    assert swept.duration_s - plain.duration_s == pytest.approx(want, rel=1e-4)


def test_figures_are_the_results_own_numbers() -> None:
    r = run(_fast(scan_rate=1e9), Setting(100), total_alloc=1 << 30)
    assert r.figures(1) == {
        "cycles": len(r.cycles),
        "goal": r.final_goal,
        "peak": r.peak_heap,
        "rss": r.rss,
        "cpu": r.gc_cpu_fraction_to_last_cycle(1),
    }


def test_the_background_scavenger_releases_at_one_percent_of_a_cpu() -> None:
    # bgscavenge works at 1% of one CPU (scavengePercent): over 0.2 s it has 2 ms, at
    # 1 ns a byte 2,000,000 bytes. The limit's goal is far lower (95% of 100 MiB less
    # the metadata), so the budget binds: 99 MiB less 2,000,000 bytes stay retained.
    m = Model(_fast(scavenge_cost=1e-9), Setting(100, 100 * MiB))
    m.retained = 99 * MiB
    m.t = 0.2
    m._scavenge(0)
    assert m.retained == 99 * MiB - 2_000_000
    m._scavenge(0)  # no time has passed: nothing more
    assert m.retained == 99 * MiB - 2_000_000
    # With no cost it reaches the limit's goal at once: 95 MiB less the non-heap
    # memory (the metadata of the 99 MiB retained when it starts).
    at_once = Model(_fast(scavenge_cost=0.0), Setting(100, 100 * MiB))
    at_once.retained = 99 * MiB
    non_heap = at_once._non_heap()
    at_once._scavenge(0)
    assert at_once.retained == 95 * MiB - non_heap


def test_the_background_workers_share_sets_what_the_limiter_counts_idle() -> None:
    # 2 Ps, the mutator on 1: 1 P marks whether the dedicated/fractional workers run
    # 0.5 of it (their 25% goal) or 0.25 (as a trace can show). The marking, and so
    # the GC CPU, is the same; the idle workers take the rest, 0.5 or 0.75 P per
    # second of mark, and the limiter counts that as idle time.
    w = _fast(scan_rate=1e9, procs=2, mutator_cpus=1.0)
    goal = run(w, Setting(100), total_alloc=1 << 30)
    fitted = run(dataclasses.replace(w, background_cpus=0.25), Setting(100), total_alloc=1 << 30)
    for a, b in zip(goal.cycles, fitted.cycles, strict=True):
        assert b.gc_cpu_s == pytest.approx(a.gc_cpu_s)
        assert a.idle_cpu_s == pytest.approx(0.5 * a.mark_s)
        assert b.idle_cpu_s == pytest.approx(0.75 * b.mark_s)


def test_an_assist_updates_the_limiter_at_once() -> None:
    # 2 Ps, the collector on, the bucket 1 ms short of full. 1 ms passes with 1 P
    # assisting and no P idle: the window is 2 ms of CPU, GC time 1 ms of assist plus
    # 25% of 2 ms = 1.5 ms, mutator time 0.5 ms: the bucket gains 1 ms and is full.
    # An assist updates the limiter when it ends (gcAssistTimeSlack); without one,
    # nothing does until 10 ms have passed.
    for assist_ps, on in ((1.0, True), (0.0, False)):
        m = Model(_fast(procs=2), Setting(100))
        m.lim.start_gc_transition(True, 0)
        m.lim.finish_gc_transition(0)
        m.lim.fill = m.lim.capacity - 1_000_000
        m._pass(0.001, 0.0, assist_ps)
        assert m.lim.limiting() is on


def test_a_mark_with_the_limiter_on_reaches_the_unassisted_peak() -> None:
    # The limiter is on when the mark starts and, with no assist to update it, stays
    # on: the background and idle workers (1 P of the 2 at 1e9 bytes/s) scan the 4 MiB
    # live heap (64-byte objects: slot = size, all scannable; no stacks or globals) in
    # 4 MiB / 1e9 s, while the mutator allocates at 1e9 bytes/s: the mark ends at the
    # heap it started with plus 4 MiB, which is what the model reports as the
    # unassisted peak. (The start-up trigger is below the 4 MiB heap: the mark starts
    # at once.)
    w = _fast(live=4 * MiB, alloc_rate=1e9, scan_rate=1e9, procs=2, mutator_cpus=1.0)
    m = Model(w, Setting(100))
    m.t = 1.0
    m.lim.last_update = 1_000_000_000  # an update just now: the transition's window is empty
    m.lim.fill, m.lim.enabled = m.lim.capacity, True
    start = m.heap_live
    cycle = m._mark()
    assert cycle.mark_s == pytest.approx(4 * MiB / 1e9) and cycle.mark_s < 0.010
    assert cycle.assist_cpu_s == 0.0
    assert cycle.trigger == start == 4 * MiB
    assert cycle.peak_unassisted == pytest.approx(start + 4 * MiB, abs=64)
    assert cycle.peak == pytest.approx(cycle.peak_unassisted, abs=64)


def test_the_run_peak_counts_the_unassisted_peak() -> None:
    # The death spiral of test_a_limit_below_the_live_heap_turns_the_cpu_limiter_on:
    # marks in which the limiter turns on report the heap they would reach if it stayed
    # on for 20 ms the first time; the run's peak is the largest of those and of the
    # marks' ends.
    w = _fast(live=90 * MiB, scan_rate=200e6, alloc_rate=500 * MiB, procs=2)
    r = run(w, Setting(100, 64 * MiB), duration=10.0)
    bounds = [c.peak_unassisted for c in r.cycles if c.peak_unassisted]
    assert bounds  # assists only end marks sooner: the bound is above each end
    assert all(c.peak_unassisted >= c.peak for c in r.cycles if c.peak_unassisted)
    assert r.peak_heap == max(max(bounds), max(c.peak for c in r.cycles))


def test_the_unassisted_peak_holds_the_limiter_on_for_20_ms_at_most() -> None:
    # As above, but 40 MiB of work: 41.9 ms of marking without assists, longer than
    # the longest on period Go allows (10 ms until a P may update the limiter, plus
    # up to 10 ms until sysmon sends one through the scheduler). The bound: the heap
    # at the start, plus 20 ms of allocation at 1e9 bytes/s, plus the growth per byte
    # of work the mark itself showed, for the work the 20 ms left (W - 20e6 bytes).
    w = _fast(live=40 * MiB, alloc_rate=1e9, scan_rate=1e9, procs=2, mutator_cpus=1.0)
    m = Model(w, Setting(100))
    m.t = 1.0
    m.lim.last_update = 1_000_000_000
    m.lim.fill, m.lim.enabled = m.lim.capacity, True
    start = m.heap_live
    cycle = m._mark()
    work = 40 * MiB
    per_work = (cycle.peak - start) / work
    expected = start + 20_000_000 + per_work * (work - 20_000_000)
    assert cycle.assist_cpu_s > 0  # the model's limiter turned off after 10 ms
    assert cycle.peak_unassisted == pytest.approx(expected, abs=64)
    assert cycle.peak < cycle.peak_unassisted < start + work  # below no assists at all
