"""The project's exception family: errors a user can fix, printed by the CLIs without traceback."""

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


class GrowError(Exception):
    """Base class: the message names the bad value and what was expected."""


class ParameterError(GrowError, ValueError):
    """A bad option or argument value."""


class AudioFileError(GrowError):
    """An input file that cannot be used for training (unreadable, silent, too short...)."""


class TrainingError(GrowError):
    """Training cannot go on (diverged, run directory in the wrong state...)."""


def check_input_file(path: Path, error: type[GrowError] = ParameterError) -> None:
    """The one wording, in every command, for an input file that is not there: `PATH: no such
    file`, or `PATH is a folder, not a file`."""
    if path.is_dir():
        raise error(f"{path} is a folder, not a file")
    if not path.is_file():
        raise error(f"{path}: no such file")


def run_cli(
    prog: str,
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse, run, and turn the user's errors into one line on stderr: exit 2 for a GrowError,
    130 for Ctrl-C. Anything else is a bug and keeps its traceback."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except GrowError as err:
        print(f"{clear_line()}{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{clear_line()}{prog}: interrupted", file=sys.stderr)
        return 130


def clear_line() -> str:
    """On a terminal, what erases a progress bar's or status line's remains before a message."""
    return "\r\033[K" if sys.stderr.isatty() else ""
