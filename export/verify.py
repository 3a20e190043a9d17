"""Verify an exported artifact: torch and onnxruntime side by side over many frames, state carried
in each, NCA steps interleaved. Also times per-frame inference for the model card."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import torch

from export.contract import OUTPUT_NAMES, ArtifactMetadata, TextureSpec
from export.onnx_export import random_controls
from export.step_graph import StepGraph
from export.texture_graphs import TextureControlsGraph, example_level
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.texture_nca import TextureNCA
from trainer.texture_nca import draw_fire

TOLERANCE = 1e-4  # max |onnx - torch| / max |torch|, per output, over all frames


def ort_session(model: Path | bytes):  # type: ignore[no-untyped-def]
    """One-thread, sequential CPU session of an ONNX file, or of a graph's bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def compare(
    graph: StepGraph,
    path: Path,
    meta: ArtifactMetadata,
    *,
    n_frames: int = 600,
    seed: int = 0,
    batch: int = 1,
    own_state: bool = True,
) -> dict[str, float]:
    """Largest relative difference per output between torch and onnxruntime over `n_frames`,
    with `batch` voices at once (each its own wandering controls, timbre and state).

    own_state: each side carries its own state from frame to frame, so that drift accumulates
    (the long check); otherwise onnxruntime is fed torch's state every frame, which checks the
    frame's function alone (the NCA's alive threshold can make carried states part over a
    cell that one side keeps at 1e-4 and the other drops)."""
    session = ort_session(path)
    streams = [random_controls(meta, n_frames, seed=seed + v) for v in range(batch)]
    controls = {k: np.concatenate([s[k] for s in streams], axis=1) for k in streams[0]}
    presets = list(meta.presets.values())
    z = np.asarray([presets[v % len(presets)] for v in range(batch)], dtype=np.float32)
    z = z + np.linspace(0.0, 0.1, batch, dtype=np.float32)[:, None]  # voices of other timbres
    gru = np.zeros((meta.gru_layers, batch, meta.gru_hidden), np.float32)
    nca = np.repeat(np.asarray([meta.nca_seed_state], dtype=np.float32), batch, axis=0)
    state_t = {"gru": torch.from_numpy(gru), "nca": torch.from_numpy(nca)}
    state_o = {"gru": gru, "nca": nca}
    worst = dict.fromkeys(OUTPUT_NAMES, 0.0)
    for t in range(n_frames):
        frame = {k: v[t] for k, v in controls.items()}
        with torch.no_grad():
            out_t = graph(
                torch.from_numpy(frame["f0_hz"]),
                torch.from_numpy(frame["loudness_db"]),
                torch.from_numpy(z),
                state_t["gru"],
                state_t["nca"],
                torch.from_numpy(frame["nca_step"]),
                torch.from_numpy(frame["nca_fire"]),
            )
        out_o = session.run(
            None, {**frame, "z": z, "gru_state": state_o["gru"], "nca_state": state_o["nca"]}
        )
        for name, a, b in zip(OUTPUT_NAMES, out_t, out_o, strict=True):
            a_np = a.numpy()
            scale = max(float(np.abs(a_np).max()), 1e-6)
            worst[name] = max(worst[name], float(np.abs(a_np - b).max()) / scale)
        state_t = {"gru": out_t[3], "nca": out_t[4]}
        state_o = (
            {"gru": out_o[3], "nca": out_o[4]}
            if own_state
            else {"gru": out_t[3].numpy(), "nca": out_t[4].numpy()}
        )
    return worst


def time_per_frame(path: Path, meta: ArtifactMetadata, *, n_frames: int = 500) -> float:
    """Median seconds per onnxruntime call (one thread), state carried."""
    session = ort_session(path)
    controls = random_controls(meta, n_frames, seed=1)
    feeds = {
        "z": np.asarray([next(iter(meta.presets.values()))], dtype=np.float32),
        "gru_state": np.zeros((meta.gru_layers, 1, meta.gru_hidden), np.float32),
        "nca_state": np.asarray([meta.nca_seed_state], dtype=np.float32),
    }
    times = []
    for t in range(n_frames):
        start = time.perf_counter()
        out = session.run(None, {**feeds, **{k: v[t] for k, v in controls.items()}})
        times.append(time.perf_counter() - start)
        feeds["gru_state"], feeds["nca_state"] = out[3], out[4]
    return float(np.median(times))


def _relative(a: torch.Tensor, b: np.ndarray) -> float:
    expected = a.numpy()
    return float(np.abs(expected - b).max()) / max(float(np.abs(expected).max()), 1e-6)


@torch.no_grad()
def verify_texture(
    spec: TextureSpec, texture: TextureNCA, ddsp: DDSPAutoencoder, *, steps: int = 24
) -> dict[str, float]:
    """Worst relative difference of onnxruntime against torch for the texture's two graphs:
    the step graph fed torch's grid at each of `steps` steps of growth from the seed, and the
    read-out over 8 voices of random levels, pitches and loudnesses."""
    c = texture.config
    step = ort_session(base64.b64decode(spec.step_onnx))
    read_out = ort_session(base64.b64decode(spec.controls_onnx))
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
