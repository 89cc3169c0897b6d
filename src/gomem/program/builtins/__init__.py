"""Built-in programs, runnable by name: `gomem run node`.

Each is an ordinary program file (examples/ links to them); `path(name)`
finds one inside the installed package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NAMES = ("node", "race")


def path(name: str) -> Path | None:
    """The file of built-in program `name`, or None."""
    if name not in NAMES:
        return None
    return Path(str(resources.files(__package__).joinpath(f"{name}.py")))
