"""The texture NCA's two graphs (export/contract.py, TextureSpec): one step of the grid, and the
read-out of one control frame's controls, exported to be embedded in the artifact's metadata
(export/verify.py checks them against torch)."""

from __future__ import annotations

import base64
from typing import Any

import torch
from torch import nn

from export.contract import (
    BATCH_AXIS,
    TEXTURE_CONTROLS_INPUTS,
    TEXTURE_CONTROLS_OUTPUTS,
    TEXTURE_STEP_INPUTS,
    TEXTURE_STEP_OUTPUTS,
    TextureSpec,
)
from export.graph_bytes import graph_bytes
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.texture_nca import TextureNCA
from trainer.texture_nca import texture_controls


class TextureStepGraph(nn.Module):
    """texture_state [1, C, T, F], texture_fire [1, 1, T, F] -> texture_state_out."""

    def __init__(self, texture: TextureNCA) -> None:
        super().__init__()
        self.texture = texture.eval()

    def forward(self, state: torch.Tensor, fire: torch.Tensor) -> torch.Tensor:
        return self.texture(state, fire)


class TextureControlsGraph(nn.Module):
    """texture_level [N, F], f0_hz [N, 1], loudness_db [N, 1] -> harmonic_amps [N, K],
    noise_mags [N, B]: trainer.texture_nca.texture_controls at one control frame."""

    def __init__(self, texture: TextureNCA, ddsp: DDSPAutoencoder) -> None:
        super().__init__()
        self.texture = texture.eval()
        self.sample_rate = ddsp.config.sample_rate
        self.noise_gram: torch.Tensor
        self.register_buffer("noise_gram", ddsp.noise_gram.clone())

    def forward(
        self, level: torch.Tensor, f0_hz: torch.Tensor, loudness_db: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.texture.config
        controls = texture_controls(
            level[:, None, None, :],  # [N, 1 channel, 1 frame, F]: the read-out's channel 0
            f0_hz,
            loudness_db,
            harmonic_cells=c.harmonic_cells,
            n_harmonics=c.n_harmonics,
            sample_rate=self.sample_rate,
            noise_gram=self.noise_gram,
            frame_stride=1,  # the engine interpolates between texture frames
        )
        return controls.harmonic_amps[:, 0], controls.noise_mags[:, 0]


def example_level(texture: TextureNCA, n: int, *, seed: int = 0) -> torch.Tensor:
    """[n, F] random non-negative levels with the wall cell at 0."""
    generator = torch.Generator().manual_seed(seed)
    level = torch.rand(n, texture.config.width, generator=generator)
    level[:, texture.config.harmonic_cells] = 0.0
    return level


def texture_spec(
    texture: TextureNCA, ddsp: DDSPAutoencoder, metrics: dict[str, Any]
) -> TextureSpec:
    """Export both graphs and describe the texture for the metadata."""
    c = texture.config
    state = texture.seed(1)
    fire = torch.ones(1, 1, c.frames, c.width)
    step = graph_bytes(
        TextureStepGraph(texture),
        (state, fire),
        inputs=TEXTURE_STEP_INPUTS,
        outputs=TEXTURE_STEP_OUTPUTS,
        dynamic_axes={},
    )
    voices_axis = {0: BATCH_AXIS}
    controls = graph_bytes(
        TextureControlsGraph(texture, ddsp),
        (example_level(texture, 1), torch.tensor([[220.0]]), torch.tensor([[-30.0]])),
        inputs=TEXTURE_CONTROLS_INPUTS,
        outputs=TEXTURE_CONTROLS_OUTPUTS,
        dynamic_axes={
            n: voices_axis for n in (*TEXTURE_CONTROLS_INPUTS, *TEXTURE_CONTROLS_OUTPUTS)
        },
    )
    return TextureSpec(
        channels=c.channels,
        frames=c.frames,
        frame_stride=c.frame_stride,
        fire_rate=c.fire_rate,
        steps=c.steps,
        harmonic_cells=c.harmonic_cells,
        noise_cells=c.noise_cells,
        seed_cells=state[0, :, 0, :].tolist(),
        step_onnx=base64.b64encode(step).decode("ascii"),
        controls_onnx=base64.b64encode(controls).decode("ascii"),
        metrics={k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
    )
