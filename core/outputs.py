"""One check for every file a command is asked to write, before any work starts: the folder
exists (nothing creates it by accident), the name has the right extension, and an existing
file is replaced only with --force. The messages read the same in every command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.errors import ParameterError


def check_output(path: Path, *, option: str, suffixes: Sequence[str], force: bool) -> None:
    """ParameterError naming `option` (as the user typed it) and the problem, if any.

    suffixes: accepted extensions, lower case with the dot (".wav").
    """
    if path.suffix.lower() not in suffixes:
        raise ParameterError(f"{option} {path} must end in {' or '.join(suffixes)}")
    parent = path.parent
    if not parent.is_dir():
        raise ParameterError(f"{option} {path}: folder {parent} does not exist")
    if path.is_dir():
        raise ParameterError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not force:
        raise ParameterError(f"{option} {path} exists; pass --force to overwrite it")
