"""The layering of docs/ARCHITECTURE.md, enforced: imports only go down.

    cli  ->  tour / report  ->  observe  ->  program  ->  runtime  ->  machine
                           \\->  oracle  ->  machine
    classic  ->  machine
    whatif  ->  runtime  ->  machine

Every module under src/gomem is parsed with `ast` (nothing is imported), and
every import of gomem is resolved to an absolute module name: `import gomem.x`,
`from gomem.x import y`, `from gomem import x`, relative imports such as
`from ..x import y`, and `importlib.import_module("gomem.x")` with a literal
name. Imports under `if TYPE_CHECKING:` and inside functions count too: a
type-only import upward is still an upward dependency.

Besides the table:
* `gomem/__init__.py` imports nothing of gomem; it defines `__version__` itself.
* `gomem.testing` is one module, the test door: it may import anything, and
  nothing in gomem imports it (its docstring says so).
* A subpackage that is not in the table fails, so a new one must be placed
  in the layers deliberately (here and in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "gomem"

_BELOW_OBSERVE = frozenset({"observe", "program", "runtime", "machine"})

# Which gomem subpackages each subpackage may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "machine": frozenset(),
    "runtime": frozenset({"machine"}),
    "program": frozenset({"runtime", "machine"}),
    "observe": frozenset({"program", "runtime", "machine"}),
    "tour": _BELOW_OBSERVE | {"oracle"},
    "report": _BELOW_OBSERVE | {"oracle"},
    "classic": frozenset({"machine"}),
    "oracle": frozenset({"machine"}),
    "whatif": frozenset({"runtime", "machine"}),  # the pacer's what-if model
}
# The cli sits on top: every layer, and the top-level package for __version__.
ALLOWED["cli"] = frozenset(ALLOWED) | {"gomem"}

TEST_DOOR = "testing"  # gomem.testing: may import anything, imported by nothing
TOP = "gomem"  # the layer name of the top-level package itself


# -- the import extractor ----------------------------------------------------


def module_name(path: Path) -> str:
    """src/gomem/cli/vm.py -> 'gomem.cli.vm'; src/gomem/cli/__init__.py -> 'gomem.cli'."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name `from <level dots><target> import ...` refers to, as importlib does."""
    package = module if is_package else module.rpartition(".")[0]
    bits = package.split(".")
    if level > len(bits):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = ".".join(bits[: len(bits) - level + 1])
    return f"{base}.{target}" if target else base


def gomem_imports(source: str, module: str, is_package: bool, top_names: set[str]) -> set[str]:
    """Absolute names of every gomem module that `source` (the text of `module`) imports.

    `from gomem import x` (or `from .. import x` reaching the top level) names
    the submodule gomem.x when x is one of `top_names`, else an attribute of
    gomem itself.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            if base == TOP:
                for alias in node.names:
                    found.add(f"{TOP}.{alias.name}" if alias.name in top_names else TOP)
            else:
                found.add(base)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            found.add(node.args[0].value)
    return {name for name in found if name == TOP or name.startswith(TOP + ".")}


def layer_of(name: str) -> str:
    """'gomem.machine.mm' -> 'machine'; 'gomem' -> 'gomem'."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else TOP


# -- what exists under src/gomem ---------------------------------------------


def top_level_names() -> set[str]:
    """Subpackages (folders with Python files) and top-level modules of src/gomem."""
    names = set()
    for child in PKG.iterdir():
        if child.is_dir() and any(child.rglob("*.py")):
            names.add(child.name)
        elif child.suffix == ".py" and child.name != "__init__.py":
            names.add(child.stem)
    return names


@dataclass(frozen=True)
class Module:
    path: Path
    name: str
    is_package: bool

    @property
    def layer(self) -> str:
        return layer_of(self.name)

    def imports(self) -> set[str]:
        source = self.path.read_text(encoding="utf-8")
        return gomem_imports(source, self.name, self.is_package, top_level_names())


def all_modules() -> list[Module]:
    return [
        Module(p, module_name(p), p.name == "__init__.py")
        for p in sorted(PKG.rglob("*.py"))
        if "__pycache__" not in p.parts
    ]


MODULES = all_modules()
MODULE_IDS = [str(m.path.relative_to(SRC)) for m in MODULES]


# -- the extractor itself can tell a bad import from a good one ---------------

# (module, is_package, source, the gomem modules it imports)
EXTRACTOR_CASES = [
    ("gomem.machine.mm", False, "import os\nimport gomem.runtime.heap\n", {"gomem.runtime.heap"}),
    ("gomem.machine.mm", False, "import gomem.runtime as rt\n", {"gomem.runtime"}),
    ("gomem.machine.mm", False, "from gomem.oracle import kernel\n", {"gomem.oracle"}),
    ("gomem.machine.mm", False, "from gomem import runtime\n", {"gomem.runtime"}),
    ("gomem.machine.mm", False, "from gomem import __version__\n", {"gomem"}),
    ("gomem.machine.mm", False, "from .vma import VMA\n", {"gomem.machine.vma"}),
    ("gomem.machine.mm", False, "from . import vma\n", {"gomem.machine"}),
    ("gomem.machine.mm", False, "from ..runtime import heap\n", {"gomem.runtime"}),
    ("gomem.machine.mm", False, "from .. import runtime\n", {"gomem.runtime"}),
    ("gomem.machine.mm", False, "from .. import __version__\n", {"gomem"}),
    ("gomem.machine", True, "from .mm import AddressSpace\n", {"gomem.machine.mm"}),
    ("gomem.machine", True, "from ..oracle import kernel\n", {"gomem.oracle"}),
    (
        "gomem.machine.mm",
        False,
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gomem.runtime import x\n",
        {"gomem.runtime"},
    ),
    ("gomem.machine.mm", False, "def f():\n    import gomem.observe\n", {"gomem.observe"}),
    (
        "gomem.machine.mm",
        False,
        "import importlib\nm = importlib.import_module('gomem.tour')\n",
        {"gomem.tour"},
    ),
    ("gomem.machine.mm", False, "import gomemx\nfrom gomemx import y\n", set()),
]
EXTRACTOR_IDS = [
    "import-absolute",
    "import-as",
    "from-absolute",
    "from-top-subpackage",
    "from-top-attribute",
    "relative-sibling",
    "relative-own-package",
    "relative-parent-subpackage",
    "relative-parent-import-subpackage",
    "relative-parent-attribute",
    "relative-from-init",
    "relative-up-from-init",
    "type-checking-block",
    "inside-function",
    "importlib-literal",
    "lookalike-package-ignored",
]


@pytest.mark.parametrize(
    ("module", "is_package", "source", "expected"), EXTRACTOR_CASES, ids=EXTRACTOR_IDS
)
def test_import_extractor_resolves_every_import_form(
    module: str, is_package: bool, source: str, expected: set[str]
) -> None:
    top = {"machine", "runtime", "oracle", "observe", "tour", "cli"}
    assert gomem_imports(source, module, is_package, top) == expected


def test_relative_import_beyond_the_top_is_an_error() -> None:
    with pytest.raises(ValueError, match="beyond the top-level package"):
        gomem_imports("from ... import x\n", "gomem.machine.mm", False, set())


# -- the layering ------------------------------------------------------------


def test_modules_were_found() -> None:
    # Guards the parametrized tests below against silently testing nothing.
    names = {m.name for m in MODULES}
    assert {"gomem", "gomem.machine", "gomem.machine.mm", "gomem.cli.main"} <= names


@pytest.mark.parametrize("name", sorted(top_level_names()), ids=sorted(top_level_names()))
def test_every_subpackage_has_a_place_in_the_layers(name: str) -> None:
    assert name in ALLOWED or name == TEST_DOOR, (
        f"gomem.{name} is not in the layering table; place it deliberately "
        "(tests/test_layering.py ALLOWED and docs/ARCHITECTURE.md)"
    )


def test_the_test_door_is_a_single_module() -> None:
    assert not (PKG / TEST_DOOR).is_dir(), "gomem.testing must be one module, not a package"


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_module_imports_only_lower_layers(module: Module) -> None:
    layer = module.layer
    if layer == TEST_DOOR:
        return  # the test door may import anything (it has its own test below)
    imported = module.imports()
    if layer == TOP:  # gomem/__init__.py
        assert imported == set(), f"gomem/__init__.py must import nothing of gomem: {imported}"
        return
    assert layer in ALLOWED, f"{module.name}: layer {layer!r} is not in the table"
    allowed = ALLOWED[layer] | {layer}
    upward = sorted(n for n in imported if layer_of(n) not in allowed)
    assert upward == [], f"{module.name} ({layer}) imports above or beside its layer: {upward}"


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_nothing_imports_the_test_door(module: Module) -> None:
    if module.layer == TEST_DOOR:
        return
    door = sorted(n for n in module.imports() if layer_of(n) == TEST_DOOR)
    assert door == [], f"{module.name} imports the test door gomem.testing: {door}"


def test_top_level_package_defines_its_own_version() -> None:
    # __version__ is a literal assignment in gomem/__init__.py, not imported from elsewhere.
    tree = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    versions = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    ]
    assert versions == ["0.1.0"]  # the version in pyproject.toml


def test_importing_the_machine_loads_nothing_else_of_gomem() -> None:
    code = (
        "import gomem.machine, sys; print(sorted(m for m in sys.modules if m.startswith('gomem')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = ast.literal_eval(done.stdout.strip())
    assert "gomem.machine" in loaded
    others = [
        m
        for m in loaded
        if m != TOP and m != "gomem.machine" and not m.startswith("gomem.machine.")
    ]
    assert others == []
