"""The texture NCA's two graphs (export/contract.py, TextureSpec): one step of the grid, and the
read-out of one control frame's controls; exported, embedded in the artifact's metadata, and
verified against torch."""

from __future__ import annotations

import base64
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
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
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.texture_nca import TextureNCA
from trainer.texture_nca import draw_fire, texture_controls

OPSET = 17
TOLERANCE = 1e-4  # max |onnx - torch| / max |torch|, per output


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


def _onnx_bytes(
    graph: nn.Module,
    example: tuple[torch.Tensor, ...],
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    dynamic: dict[str, dict[int, str]],
) -> bytes:
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), torch.no_grad():
        path = Path(scratch) / "graph.onnx"
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on constant folding
        torch.onnx.export(
            graph,
            example,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
        return path.read_bytes()


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
    step = _onnx_bytes(
        TextureStepGraph(texture), (state, fire), TEXTURE_STEP_INPUTS, TEXTURE_STEP_OUTPUTS, {}
    )
    controls = _onnx_bytes(
        TextureControlsGraph(texture, ddsp),
        (example_level(texture, 1), torch.tensor([[220.0]]), torch.tensor([[-30.0]])),
        TEXTURE_CONTROLS_INPUTS,
        TEXTURE_CONTROLS_OUTPUTS,
        {name: {0: BATCH_AXIS} for name in (*TEXTURE_CONTROLS_INPUTS, *TEXTURE_CONTROLS_OUTPUTS)},
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


def _session(encoded: str):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        base64.b64decode(encoded), options, providers=["CPUExecutionProvider"]
    )


def _relative(a: torch.Tensor, b: np.ndarray) -> float:
    expected = a.numpy()
    return float(np.abs(expected - b).max()) / max(float(np.abs(expected).max()), 1e-6)


@torch.no_grad()
def verify_texture(
    spec: TextureSpec, texture: TextureNCA, ddsp: DDSPAutoencoder, *, steps: int = 24
) -> dict[str, float]:
    """Worst relative difference of onnxruntime against torch: the step graph fed torch's grid
    at each of `steps` steps of growth from the seed, and the read-out over 8 voices of random
    levels, pitches and loudnesses."""
    c = texture.config
    step, read_out = _session(spec.step_onnx), _session(spec.controls_onnx)
    generator = torch.Generator().manual_seed(0)
    state = texture.seed(1)
    worst_step = 0.0
    for _ in range(steps):
        fire = draw_fire(1, c.frames, c.width, rate=c.fire_rate, generator=generator)
        expected = texture(state, fire)
        (got,) = step.run(None, {"texture_state": state.numpy(), "texture_fire": fire.numpy()})
        worst_step = max(worst_step, _relative(expected, got))
        state = expected
    graph = TextureControlsGraph(texture, ddsp)
    level = example_level(texture, 8, seed=1)
    f0 = torch.exp(torch.linspace(np.log(60.0), np.log(1500.0), 8))[:, None]
    loud = torch.linspace(-70.0, -5.0, 8)[:, None]
    amps, noise = graph(level, f0, loud)
    got_amps, got_noise = read_out.run(
        None, {"texture_level": level.numpy(), "f0_hz": f0.numpy(), "loudness_db": loud.numpy()}
    )
    return {
        "texture_state_out": worst_step,
        "texture_harmonic_amps": _relative(amps, got_amps),
        "texture_noise_mags": _relative(noise, got_noise),
    }
