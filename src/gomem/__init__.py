"""gomem: an executable, faithful model of Go's memory management on Linux.

See docs/ARCHITECTURE.md for the overview; each package's docstring says
what it models.
"""

__version__ = "0.1.0"
