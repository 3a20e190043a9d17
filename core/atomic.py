"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A reader (or a run killed mid-write) never sees a half-written file: either the old one or the new.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import ParameterError

TMP_MARK = ".tmp-"


@contextlib.contextmanager
def atomic_path(target: str | Path, *, make_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path with the target's suffix; rename it onto `target` on success.

    The target's folder must exist unless `make_parents` (for folders the program owns, such as
    its cache): a mistyped output path is an error, never a silently created tree.
    """
    target = Path(target)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.parent.is_dir():
        raise ParameterError(f"cannot write {target}: folder {target.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}{TMP_MARK}", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the final file normal permissions
    try:
        yield tmp
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(target: str | Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporaries left by a writer that was killed (e.g. `kill -9`); return them."""
    stale = [p for p in Path(folder).glob(f".*{TMP_MARK}*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
