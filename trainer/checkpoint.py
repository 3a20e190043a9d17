"""Checkpoints: plain state dicts (torch.load(weights_only=True) reads them), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_path
from core.errors import TrainingError

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` (tensors, numbers, strings, lists, dicts only) to `path` atomically."""
    with atomic_path(path, make_parents=True) as tmp:  # the run's own folder
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; TrainingError naming the file if unusable."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as err:
        raise TrainingError(f"{path}: cannot read checkpoint ({err})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a Timbre Grower checkpoint of format {CHECKPOINT_FORMAT}")
    return state
