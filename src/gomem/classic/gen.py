"""Seeded synthetic allocation traces, so tests need no trace files we do not own.

Each kind imitates a family of the malloc lab's traces:

    random    mallocs of log-uniform sizes, frees of random live blocks,
              occasional reallocs (random-bal)
    binary    small and large blocks alternately, the small ones freed, then
              requests bigger than any hole they left (binary-bal)
    coalesce  runs of adjacent blocks freed in an order that meets all four
              boundary-tag coalescing cases of CS:APP fig. 9.40, then requests
              that fit only in the coalesced space
    realloc   a few blocks grown by realloc again and again, a small block
              allocated and freed around each growth (realloc-bal)

`generate(kind, ops=n, seed=s)` returns exactly n ops as (kind, id, size)
tuples, size 0 for a free. Every trace is valid (ids allocated once, numbered
0, 1, 2... in order of allocation; reallocs and frees only of live blocks),
ends with every block freed (those final frees count in the n), keeps every
requested size in [1, max_size], and is a function of (kind, ops, seed,
max_size) alone: all randomness comes from `random.Random(seed)`.

A structured pattern (binary, coalesce, realloc) takes as much of the budget
as whole repetitions of it fit; the few ops left over are padding before the
final frees: an odd one is a realloc of a live block, the rest malloc/free
pairs.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable

from .trace import Trace, write_trace

GENERATORS: dict[str, str] = {
    "random": "random mallocs (log-uniform sizes), frees of random live blocks, some reallocs",
    "binary": "alternating 64- and 448-byte blocks, the 64s freed, then 512-byte blocks",
    "coalesce": "adjacent blocks freed to meet all four coalescing cases, then blocks "
    "that fit only in the coalesced space",
    "realloc": "a few blocks grown by realloc (+16..512 bytes) around small mallocs and frees",
}

Op = tuple[str, int, int]


class _Builder:
    """Emits ops and keeps the live blocks, so that frees pick from them in O(1)."""

    def __init__(self, rng: random.Random, max_size: int) -> None:
        self.rng = rng
        self.max_size = max_size
        self.ops: list[Op] = []
        self.live: list[int] = []  # live ids, in no particular order
        self._slot: dict[int, int] = {}  # id -> its index in live
        self.size: dict[int, int] = {}  # live id -> its current size
        self._next_id = 0

    def malloc(self, size: int) -> int:
        ident = self._next_id
        self._next_id += 1
        self.ops.append(("a", ident, size))
        self._slot[ident] = len(self.live)
        self.live.append(ident)
        self.size[ident] = size
        return ident

    def realloc(self, ident: int, size: int) -> None:
        assert ident in self._slot, ident
        self.ops.append(("r", ident, size))
        self.size[ident] = size

    def free(self, ident: int) -> None:
        self.ops.append(("f", ident, 0))
        slot = self._slot.pop(ident)
        last = self.live.pop()
        if last != ident:
            self.live[slot] = last
            self._slot[last] = slot
        del self.size[ident]

    def random_size(self) -> int:
        """Log-uniform in [1, max_size]: as many requests of 1..2 bytes as of 1..2 KiB."""
        return min(self.max_size, int(math.exp(self.rng.uniform(0, math.log(self.max_size + 1)))))

    def scaled(self, size: int, reference: int) -> int:
        """`size` of a pattern whose largest request is `reference`, shrunk to fit max_size."""
        if self.max_size >= reference:
            return size
        return max(1, size * self.max_size // reference)

    def pad_to(self, total: int) -> None:
        """Fill the budget so that, with the final frees, the trace has `total` ops."""
        left = total - len(self.ops) - len(self.live)
        assert left >= 0, left
        if left % 2:
            if self.live:
                ident = self.rng.choice(self.live)
                self.realloc(ident, self.random_size())
                left -= 1
            else:  # nothing live: a whole malloc/realloc/free (odd budgets are >= 3 here)
                assert left >= 3, left
                ident = self.malloc(self.random_size())
                self.realloc(ident, self.random_size())
                self.free(ident)
                left -= 3
        for _ in range(left // 2):
            self.free(self.malloc(self.random_size()))

    def free_all(self) -> None:
        order = list(self.live)
        self.rng.shuffle(order)
        for ident in order:
            self.free(ident)


def _random(b: _Builder, total: int) -> None:
    # d = ops left - live blocks = the budget beyond the final frees. A malloc
    # costs 2 of it (itself and its free), a realloc 1, a free 0. The one dead
    # end is d == 1 with nothing live (nothing can spend exactly 1), so a free
    # that would leave it is not offered. Frees are weighted by the live count,
    # which keeps about TARGET blocks live.
    target = 64
    kinds = ("a", "f", "r")
    while (d := total - len(b.ops) - len(b.live)) > 0:
        n_live = len(b.live)
        weights = (
            1.0 if d >= 2 else 0.0,
            n_live / target if n_live >= 1 and not (d == 1 and n_live == 1) else 0.0,
            0.1 if n_live >= 1 else 0.0,
        )
        kind = b.rng.choices(kinds, weights)[0]
        if kind == "a":
            b.malloc(b.random_size())
        elif kind == "f":
            b.free(b.live[b.rng.randrange(n_live)])
        else:
            b.realloc(b.live[b.rng.randrange(n_live)], b.random_size())


def _binary(b: _Builder, total: int) -> None:
    # k pairs (small, large), k small frees, m big mallocs, and the k + m final
    # frees: 4k + 2m ops, the even part of the budget; m is about k.
    small, large, big = (b.scaled(s, 512) for s in (64, 448, 512))
    even = total - total % 2
    k = even // 6
    m = even // 2 - 2 * k
    smalls = []
    for _ in range(k):
        smalls.append(b.malloc(small))
        b.malloc(large)
    b.rng.shuffle(smalls)
    for ident in smalls:
        b.free(ident)
    for _ in range(m):
        b.malloc(big)
    b.pad_to(total)


# Within a run g0..g4 followed by a guard block that stays allocated, freeing
# in this order meets the cases of CS:APP fig. 9.40 (prev and next neighbour):
#   g1: allocated, allocated -> case 1        g2: free, allocated -> case 3
#   g4: allocated, allocated -> case 1        g0: allocated, free -> case 2
#   g3: free, free           -> case 4
# g0's previous neighbour is the guard of the run before (or the prologue).
COALESCE_RUN = 5
COALESCE_FREE_ORDER = (1, 2, 4, 0, 3)


def _coalesce(b: _Builder, total: int) -> None:
    # Per run: 5 blocks + a guard, 5 frees, 1 big malloc, 2 final frees = 14 ops.
    per_run = (COALESCE_RUN + 1) + COALESCE_RUN + 1 + 2
    runs = total // per_run
    unit = b.rng.randint(2, 16) * 8  # 16..128 bytes
    if COALESCE_RUN * unit > b.max_size:
        unit = max(1, b.max_size // COALESCE_RUN)
    # Bigger than any one block: it fits only where a whole run has coalesced.
    big = min(COALESCE_RUN * unit, b.max_size)
    blocks = []
    for _ in range(runs):
        blocks.append([b.malloc(unit) for _ in range(COALESCE_RUN)])
        b.malloc(unit)  # the guard
    for run in blocks:
        for i in COALESCE_FREE_ORDER:
            b.free(run[i])
    for _ in range(runs):
        b.malloc(big)
    b.pad_to(total)


def _realloc(b: _Builder, total: int) -> None:
    # g growing blocks (a and final f each), then rounds of a small, r a growing
    # block, f the small: 2g + 3 * rounds ops, the rest padding.
    g = min(b.rng.randint(1, 4), total // 2)
    base = min(512, b.max_size)
    small_lo, small_hi = min(16, b.max_size), min(128, b.max_size)
    growing = [b.malloc(base) for _ in range(g)]
    for _ in range((total - 2 * g) // 3):
        small = b.malloc(b.rng.randint(small_lo, small_hi))
        ident = b.rng.choice(growing)
        size = b.size[ident] + b.rng.randint(16, 512)
        b.realloc(ident, size if size <= b.max_size else base)  # past max_size: back to base
        b.free(small)
    b.pad_to(total)


_BUILDERS: dict[str, Callable[[_Builder, int], None]] = {
    "random": _random,
    "binary": _binary,
    "coalesce": _coalesce,
    "realloc": _realloc,
}


def generate(kind: str, *, ops: int, seed: int, max_size: int = 4096) -> list[Op]:
    """Exactly `ops` valid (kind, id, size) ops of the given kind, every block freed at the end."""
    if kind not in _BUILDERS:
        raise ValueError(f"unknown trace kind {kind!r} (known: {', '.join(GENERATORS)})")
    if ops < 2:
        raise ValueError(f"a trace needs at least 2 ops (a malloc and its free), got {ops}")
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    b = _Builder(random.Random(seed), max_size)
    _BUILDERS[kind](b, ops)
    b.free_all()
    assert len(b.ops) == ops, (kind, ops, len(b.ops))
    return b.ops


def generate_trace(
    kind: str, *, ops: int, seed: int, max_size: int = 4096, name: str | None = None
) -> Trace:
    """`generate`, written as a .rep text and read back as a Trace.

    The header's heap size is the peak of the live requested bytes; `name`
    defaults to "{kind}-{ops}-{seed}".
    """
    generated = generate(kind, ops=ops, seed=seed, max_size=max_size)
    live: dict[int, int] = {}
    payload = peak = 0
    for op, ident, size in generated:
        payload += size - live.pop(ident, 0)
        if op != "f":
            live[ident] = size
        peak = max(peak, payload)
    text = io.StringIO()
    num_ids = sum(1 for op in generated if op[0] == "a")
    write_trace(generated, text, num_ids=num_ids, heap_size=peak)
    return Trace.from_text(text.getvalue(), name=name or f"{kind}-{ops}-{seed}")
