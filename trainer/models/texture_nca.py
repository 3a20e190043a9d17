"""The texture NCA module: settings plus the learned update rule around trainer/texture_nca.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ParameterError
from trainer.controls import Controls
from trainer.texture_nca import (
    N_KERNELS,
    draw_fire,
    grid_width,
    place_code,
    seed_state,
    texture_controls,
    texture_step,
    wall_mask,
)


@dataclass(frozen=True)
class TextureConfig:
    """The seeds' textured NCA: 16 channels, rule 64 -> 128 -> 64 -> 16, 96 steps."""

    channels: int = 16  # C: state channels per cell; channel 0 is the level and aliveness
    hidden: tuple[int, int] = (128, 64)  # widths of the rule's two hidden layers
    frames: int = 50  # T: texture frames in the loop (2 s at 100 control frames/s, stride 4)
    frame_stride: int = 4  # control frames per texture frame (trainer.texture_nca.stretch_frames)
    harmonic_cells: int = 64  # K': the harmonics the recording made audible (<= n_harmonics)
    noise_cells: int = 16  # B': points of the noise envelope, spread onto the B bands
    n_harmonics: int = 64  # K, the DDSP synth's harmonics
    n_noise_bands: int = 64  # B, the DDSP synth's noise bands
    fire_rate: float = 0.5  # probability that a cell updates in a step
    steps: int = 96  # growth steps from the seed
    place_code: int = 4  # 1, 2, 4, 8 turns along time and cells, to the rule (texture_nca)

    def __post_init__(self) -> None:
        if self.channels < 1 or min(self.hidden) < 1:
            raise ParameterError(f"channels={self.channels}, hidden={self.hidden} must be >= 1")
        if self.frames < 3 or self.harmonic_cells < 1 or self.noise_cells < 1:
            raise ParameterError(
                f"frames={self.frames} (>= 3), harmonic_cells={self.harmonic_cells} and "
                f"noise_cells={self.noise_cells} (>= 1) make no grid"
            )
        if self.harmonic_cells > self.n_harmonics or self.noise_cells > self.n_noise_bands:
            raise ParameterError(
                f"{self.harmonic_cells} harmonic and {self.noise_cells} noise cells for a synth "
                f"of {self.n_harmonics} harmonics and {self.n_noise_bands} noise bands"
            )
        if not 0.0 < self.fire_rate <= 1.0:
            raise ParameterError(f"fire_rate={self.fire_rate} must be in (0, 1]")
        if self.place_code < 0:
            raise ParameterError(f"place_code={self.place_code} must be >= 0 (0: no place code)")
        if self.steps < 1 or self.frame_stride < 1:
            raise ParameterError(
                f"steps={self.steps} and frame_stride={self.frame_stride} must be >= 1"
            )

    @property
    def width(self) -> int:
        return grid_width(self.harmonic_cells, self.noise_cells)

    @property
    def rule_inputs(self) -> int:
        """The rule's input per cell: the perception (4 per channel) and the place code."""
        return N_KERNELS * self.channels + 4 * self.place_code

    @property
    def control_frames(self) -> int:
        """Control frames in one loop."""
        return self.frames * self.frame_stride

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextureConfig:
        """The inverse of to_dict (JSON turns the hidden widths into a list). A texture saved
        before the place code existed had none."""
        return cls(**{"place_code": 0, **data, "hidden": tuple(data["hidden"])})


class TextureNCA(nn.Module):
    """Update rule: perception [4C] and place code [P] -> 1x1 conv -> ReLU -> 1x1 conv -> ReLU ->
    1x1 conv [C], the last layer zero at the start so that the untrained NCA does nothing."""

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        self.config = config
        first, second = config.hidden
        self.rule = nn.Sequential(
            nn.Conv2d(config.rule_inputs, first, 1),
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
            "wall", wall_mask(config.harmonic_cells, config.noise_cells), persistent=False
        )
        self.code: torch.Tensor | None
        code = place_code(config.frames, config.width, config.place_code)
        self.register_buffer("code", code if config.place_code else None, persistent=False)

    def forward(self, state: torch.Tensor, fire: torch.Tensor) -> torch.Tensor:
        """One step. state: [batch, C, T, F]; fire: [batch, 1, T, F] 0/1. The dense rule:
        the step the exported graph holds."""
        wall = self.wall
        assert isinstance(wall, torch.Tensor)
        return texture_step(state, fire, self.rule, wall, code=self.code)

    def step_fired(self, state: torch.Tensor, fire: torch.Tensor) -> torch.Tensor:
        """The same step as `forward`, the rule run only on the cells that fire and live
        (trainer.texture_nca.texture_step's rule_rows): the path of training and `grow`.
        On the CPU only: elsewhere (CUDA) it is `forward`, since picking the cells makes the
        host wait for the device at every step."""
        if state.device.type != "cpu":
            return self(state, fire)
        wall = self.wall
        assert isinstance(wall, torch.Tensor)
        return texture_step(
            state, fire, self.rule, wall, code=self.code, rule_rows=self.rule_on_rows
        )

    def rule_on_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """The rule on cells as rows: [N, 4C + P] -> [N, C], each 1x1 convolution as a matrix
        product with the same parameters."""
        for layer in self.rule:
            if isinstance(layer, nn.Conv2d):
                rows = F.linear(rows, layer.weight.flatten(1), layer.bias)
            else:
                rows = layer(rows)
        return rows

    def controls(
        self,
        state: torch.Tensor,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        *,
        sample_rate: int,
        noise_gram: torch.Tensor,
    ) -> Controls:
        """The synth's controls of `state` [batch, C, T, F] played at f0_hz, loudness_db
        [batch, T * frame_stride] (trainer.texture_nca.texture_controls)."""
        c = self.config
        return texture_controls(
            state,
            f0_hz,
            loudness_db,
            harmonic_cells=c.harmonic_cells,
            n_harmonics=c.n_harmonics,
            sample_rate=sample_rate,
            noise_gram=noise_gram,
            frame_stride=c.frame_stride,
        )

    def seed(self, batch: int) -> torch.Tensor:
        c = self.config
        return seed_state(batch, c.channels, c.frames, c.harmonic_cells, c.noise_cells)

    def grow(
        self, state: torch.Tensor, steps: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """`steps` steps with fresh fire masks; returns the final state."""
        c = self.config
        for _ in range(steps):
            fire = draw_fire(
                state.shape[0], c.frames, c.width, rate=c.fire_rate, generator=generator
            )
            state = self.step_fired(state, fire.to(state.device))
        return state
