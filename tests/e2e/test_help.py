"""Every command's --help, as a user reads it in a terminal."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.cli_help import HelpFormatter
from export.cli import build_parser as export_parser
from realtime.live_cli import build_parser as live_parser
from realtime.render_cli import build_parser as render_parser
from trainer.cli import build_parser as train_parser

BIN = Path(sys.executable).parent
PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "grow-train": train_parser,
    "grow-export": export_parser,
    "grow-render": render_parser,
    "grow-live": live_parser,
}


@pytest.mark.parametrize("command", list(PARSERS))
def test_help_describes_explains_and_points_onwards(command: str) -> None:
    done = subprocess.run(
        [str(BIN / command), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    description = text.split("\n\n")[1]
    assert len(description) > 200, description  # a paragraph, not half a sentence
    assert description.rstrip().endswith("."), description
    assert "`" not in text  # no markdown in a terminal
    assert not re.search(r"\{'|None\b|%\(", text)  # no dict dumps, raw None, format leftovers
    assert max(len(line) for line in text.splitlines()) <= 100
    examples = text.split("examples:\n")[1].split("\n\n")[0].splitlines()
    assert len(examples) >= 2 and all(
        line.strip().startswith(("grow-", "osc")) for line in examples
    )
    assert "\nwrites: " in text and "\nnext: " in text
    if command == "grow-live":
        flat = " ".join(text.split())
        assert "docs/OSC.md" in flat and "jackd -d dummy" in flat


@pytest.mark.parametrize("command", list(PARSERS))
def test_every_option_is_explained_with_its_default(command: str) -> None:
    parser = PARSERS[command]()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 5, action.dest
        shown = HelpFormatter(prog=command)._get_help_string(action)
        meaningful = action.default not in (None, False, "", argparse.SUPPRESS)
        if action.option_strings and meaningful:
            assert "default" in shown, action.dest
        # The default said once, never "(default x) (default: x)".
        assert shown.replace("%(default)", "").count("default") <= 1, shown
