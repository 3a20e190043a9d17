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


def load_weights(module: torch.nn.Module, state: dict[str, Any], key: str, path: Path) -> None:
    """Put the checkpoint's `state[key]` into `module`; TrainingError naming the file if it has
    no such weights or they do not fit the module the run's settings (config.json) describe."""
    try:
        module.load_state_dict(state[key])
    except (KeyError, RuntimeError) as err:
        detail = str(err).strip().splitlines()
        raise TrainingError(
            f"{path}: its {key} weights do not fit the run's settings in config.json "
            f"({detail[-1].strip() if detail else type(err).__name__}); move the file away to "
            "train that phase afresh"
        ) from None
