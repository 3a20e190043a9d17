"""Terminal help shared by the four commands: a description paragraph, every default shown,
examples, what the command writes and what to run next.

Plain text only (no markdown): these pages are read in a terminal.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence

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


def command_parser(
    prog: str, *, description: str, examples: Sequence[str], outputs: str, next_step: str
) -> argparse.ArgumentParser:
    """An ArgumentParser whose help ends with examples, the outputs and the next step."""
    epilog = "\n".join(
        [
            "examples:",
            *(f"  {line}" for line in examples),
            "",
            textwrap.fill(f"writes: {outputs}", WIDTH, subsequent_indent="  "),
            textwrap.fill(f"next: {next_step}", WIDTH, subsequent_indent="  "),
        ]
    )
    return argparse.ArgumentParser(
        prog=prog,
        description=textwrap.fill(description, WIDTH),
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
