"""The Go-program side: a small API to write Go-like programs for the
simulated runtime (api), their type expressions (types), and workload
specs in TOML (workload). See docs/ARCHITECTURE.md.
"""

from .api import Func, Goroutine, Program, ProgramError, Ptr, RunResult, Slice
from .types import StructType

__all__ = [
    "Func",
    "Goroutine",
    "Program",
    "ProgramError",
    "Ptr",
    "RunResult",
    "Slice",
    "StructType",
]
