"""The harmonic NCA module: settings plus the learned update rule around trainer/nca.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.errors import ParameterError
from trainer.nca import draw_fire, nca_step, seed_state


@dataclass(frozen=True)
class NCAConfig:
    channels: int = 16  # C: state channels per cell; channel 0 is the mask
    hidden: int = 64  # width of the update rule
    n_harmonics: int = 64  # K cells, one per harmonic
    fire_rate: float = 0.5  # probability that a cell updates in a step
    seed_harmonics: int = 1  # harmonics alive in the seed (1 = the fundamental alone)

    def __post_init__(self) -> None:
        if self.channels < 1 or self.hidden < 1:
            raise ParameterError(f"channels={self.channels}, hidden={self.hidden} must be >= 1")
        if not 0.0 < self.fire_rate <= 1.0:
            raise ParameterError(f"fire_rate={self.fire_rate} must be in (0, 1]")
        if not 1 <= self.seed_harmonics <= self.n_harmonics:
            raise ParameterError(
                f"seed_harmonics={self.seed_harmonics} must be in 1..{self.n_harmonics}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class HarmonicNCA(nn.Module):
    """Update rule: perception [3C] -> 1x1 conv -> ReLU -> 1x1 conv [C], the last layer zero at
    the start so that the untrained NCA does nothing."""

    def __init__(self, config: NCAConfig) -> None:
        super().__init__()
        self.config = config
        self.rule = nn.Sequential(
            nn.Conv1d(3 * config.channels, config.hidden, 1),
            nn.ReLU(),
            nn.Conv1d(config.hidden, config.channels, 1),
        )
        last = self.rule[2]
        assert isinstance(last, nn.Conv1d)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, state: torch.Tensor, fire: torch.Tensor) -> torch.Tensor:
        """One step. state: [batch, C, K]; fire: [batch, 1, K] 0/1. Returns [batch, C, K]."""
        return nca_step(state, fire, self.rule)

    def seed(self, batch: int) -> torch.Tensor:
        cfg = self.config
        state = seed_state(batch, cfg.channels, cfg.n_harmonics, n_alive=cfg.seed_harmonics)
        return state.to(next(self.parameters()).device)

    def grow(
        self, state: torch.Tensor, steps: int, *, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """Run `steps` steps with random fire masks; returns the states after 0..steps steps."""
        states = [state]
        for _ in range(steps):
            fire = draw_fire(
                state.shape[0],
                self.config.n_harmonics,
                rate=self.config.fire_rate,
                generator=generator,
            ).to(state.device)
            state = self(state, fire)
            states.append(state)
        return states
