"""Terminal help shared by the four commands: a description paragraph, every default shown,
examples, what the command writes and what to run next.

Plain text only (no markdown): these pages are read in a terminal.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import NoReturn

WIDTH = 78


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's and epilog's line breaks and appends each option's default
    ("default: X") where it has a meaningful one (not None, not a False flag) that its help
    does not already state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default" in text
            or default is None
            or default is False
            or default == ""
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break at a hyphen: ~/.cache/timbre-grower, grow-live and per-note stay whole.
        return textwrap.wrap(
            " ".join(text.split()), width, break_on_hyphens=False, break_long_words=False
        )


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, as every other error is:
    `grow-render: error: ... (see grow-render --help)`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fill(text: str, *, subsequent_indent: str = "") -> str:
    """Wrap terminal text to WIDTH without breaking words at hyphens."""
    return textwrap.fill(
        text,
        WIDTH,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def command_parser(
    prog: str, *, description: str, examples: Sequence[str], outputs: str, next_step: str
) -> argparse.ArgumentParser:
    """An ArgumentParser whose help ends with examples, the outputs and the next step."""
    epilog = "\n".join(
        [
            "examples:",
            *(f"  {line}" for line in examples),
            "",
            fill(f"writes: {outputs}", subsequent_indent="  "),
            fill(f"next: {next_step}", subsequent_indent="  "),
        ]
    )
    return CommandParser(
        prog=prog, description=fill(description), epilog=epilog, formatter_class=HelpFormatter
    )
