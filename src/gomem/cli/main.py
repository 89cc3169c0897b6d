"""Entry point of the `gomem` command: subcommands, and errors as one line.

Bad input (arguments, values) prints one line on stderr and exits 2;
a failure of the simulation itself prints one line and exits 1. Set
GOMEM_DEBUG=1 to get the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from gomem import __version__

from . import alloc, gc, malloc, pacer, probe, run, sizeclass, vm, whatif
from .args import BadInput


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="gomem",
        description="An executable, faithful model of Go's memory management on Linux.",
        epilog="Run 'gomem COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"gomem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    vm.add_parser(sub)
    probe.add_parser(sub)
    malloc.add_parser(sub)
    sizeclass.add_parser(sub)
    alloc.add_parser(sub)
    run.add_parser(sub)
    gc.add_parser(sub)
    pacer.add_parser(sub)
    whatif.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BadInput as err:
        print(f"{args.prog}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `gomem vm demo | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("gomem: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("GOMEM_DEBUG"):
            raise
        print(f"{args.prog}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
