"""Shared fixtures of the CLI tests: run `gomem ARGS...` in-process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gomem.cli.main import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def assert_one_line_error(self) -> None:
        """Bad input: exit 2, nothing on stdout, one non-empty line on stderr, no traceback."""
        assert self.code == 2, self
        assert self.out == ""
        assert "Traceback" not in self.err
        assert self.err.endswith("\n") and self.err.count("\n") == 1, self.err
        assert self.err.strip() != ""


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No forced colour or width from the environment: output is plain text."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gomem(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `gomem ARGS...` in-process; return its exit code, stdout and stderr."""

    def run(*argv: str | Path) -> Result:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: --help, --version and usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
