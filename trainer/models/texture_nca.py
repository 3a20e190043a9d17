"""The texture NCA module: settings plus the learned update rule around trainer/texture_nca.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.errors import ParameterError
from trainer.texture_nca import (
    N_KERNELS,
    draw_fire,
    grid_width,
    seed_state,
    texture_step,
    wall_mask,
)


@dataclass(frozen=True)
class TextureConfig:
    """The seeds' textured NCA: 16 channels, rule 64 -> 128 -> 64 -> 16, 96 steps."""

    channels: int = 16  # C: state channels per cell; channel 0 is the level and aliveness
    hidden: tuple[int, int] = (128, 64)  # widths of the rule's two hidden layers
    frames: int = 200  # T: control frames in the loop (2 s at 100 frames/s)
    n_harmonics: int = 64  # K cells of the harmonic strip
    n_noise_bands: int = 64  # B cells of the noise strip
    fire_rate: float = 0.5  # probability that a cell updates in a step
    steps: int = 96  # growth steps from the seed

    def __post_init__(self) -> None:
        if self.channels < 1 or min(self.hidden) < 1:
            raise ParameterError(f"channels={self.channels}, hidden={self.hidden} must be >= 1")
        if self.frames < 3 or self.n_harmonics < 1 or self.n_noise_bands < 1:
            raise ParameterError(
                f"frames={self.frames} (>= 3), n_harmonics={self.n_harmonics} and "
                f"n_noise_bands={self.n_noise_bands} (>= 1) make no grid"
            )
        if not 0.0 < self.fire_rate <= 1.0:
            raise ParameterError(f"fire_rate={self.fire_rate} must be in (0, 1]")
        if self.steps < 1:
            raise ParameterError(f"steps={self.steps} must be >= 1")

    @property
    def width(self) -> int:
        return grid_width(self.n_harmonics, self.n_noise_bands)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TextureNCA(nn.Module):
    """Update rule: perception [4C] -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU -> 1x1 conv [C],
    the last layer zero at the start so that the untrained NCA does nothing."""

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        self.config = config
        first, second = config.hidden
        self.rule = nn.Sequential(
            nn.Conv2d(N_KERNELS * config.channels, first, 1),
            nn.ReLU(),
            nn.Conv2d(first, second, 1),
            nn.ReLU(),
            nn.Conv2d(second, config.channels, 1),
        )
        last = self.rule[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        self.register_buffer(
            "wall", wall_mask(config.n_harmonics, config.n_noise_bands), persistent=False
        )

    def forward(self, state: torch.Tensor, fire: torch.Tensor) -> torch.Tensor:
        """One step. state: [batch, C, T, F]; fire: [batch, 1, T, F] 0/1."""
        wall = self.wall
        assert isinstance(wall, torch.Tensor)
        return texture_step(state, fire, self.rule, wall)

    def seed(self, batch: int) -> torch.Tensor:
        c = self.config
        return seed_state(batch, c.channels, c.frames, c.n_harmonics, c.n_noise_bands)

    def grow(
        self, state: torch.Tensor, steps: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """`steps` steps with fresh fire masks; returns the final state."""
        c = self.config
        for _ in range(steps):
            fire = draw_fire(
                state.shape[0], c.frames, c.width, rate=c.fire_rate, generator=generator
            )
            state = self(state, fire.to(state.device))
        return state
