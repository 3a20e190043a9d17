"""Export a run directory to one self-contained ONNX file with the contract's metadata."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_path
from core.errors import TrainingError
from core.version import __version__
from export.contract import (
    BATCH_AXIS,
    FORMAT_VERSION,
    INPUT_NAMES,
    METADATA_KEY,
    OUTPUT_NAMES,
    ArtifactMetadata,
)
from export.graph_bytes import OPSET, graph_bytes
from export.step_graph import StepGraph
from export.texture_graphs import texture_spec
from trainer.checkpoint import load_checkpoint
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig
from trainer.models.nca import HarmonicNCA, NCAConfig
from trainer.models.texture_nca import TextureConfig, TextureNCA
from trainer.run_dir import RunDir


def load_run(run: RunDir) -> tuple[DDSPAutoencoder, HarmonicNCA, dict]:
    """The trained models and config of a finished run (both phases)."""
    if not run.config.is_file():
        raise TrainingError(f"{run.root}: not a run directory (no config.json)")
    config = json.loads(run.config.read_text())
    for path, phase in ((run.checkpoint, "ddsp"), (run.nca_checkpoint, "nca")):
        if not path.is_file():
            raise TrainingError(
                f"{run.root}: no {path.name}; train the {phase} phase first "
                f"(grow-train --out {run.root} --resume --phase {phase})"
            )
    ddsp = DDSPAutoencoder(ModelConfig(**config["model"]))
    ddsp.load_state_dict(load_checkpoint(run.checkpoint)["model"])
    nca = HarmonicNCA(NCAConfig(**config["nca"]))
    nca.load_state_dict(load_checkpoint(run.nca_checkpoint)["nca"])
    return ddsp.eval(), nca.eval(), config


def load_texture(run: RunDir, config: dict) -> TextureNCA | None:
    """The run's trained texture NCA, or None when it has none (--phase texture never ran)."""
    if "texture" not in config or not run.texture_checkpoint.is_file():
        return None
    texture = TextureNCA(TextureConfig.from_dict(config["texture"]))
    texture.load_state_dict(load_checkpoint(run.texture_checkpoint)["texture"])
    return texture.eval()


def build_metadata(
    run: RunDir,
    ddsp: DDSPAutoencoder,
    nca: HarmonicNCA,
    config: dict,
    *,
    texture: TextureNCA | None = None,
) -> ArtifactMetadata:
    """The contract's metadata for this run (with its texture NCA's graphs when given)."""
    mc, fc = ddsp.config, config["features"]
    presets = json.loads(run.presets.read_text()) if run.presets.is_file() else {}
    metrics = json.loads(run.metrics.read_text()) if run.metrics.is_file() else {}
    nca_metrics = json.loads(run.nca_metrics.read_text()) if run.nca_metrics.is_file() else {}
    reverb = None if ddsp.reverb_ir is None else [0.0, *ddsp.reverb_ir.detach()[1:].tolist()]
    texture_metrics = (
        json.loads(run.texture_metrics.read_text()) if run.texture_metrics.is_file() else {}
    )
    spec = {} if texture is None else texture_spec(texture, ddsp, texture_metrics).to_dict()
    return ArtifactMetadata(
        format_version=FORMAT_VERSION,
        sample_rate=mc.sample_rate,
        hop=mc.hop,
        n_harmonics=mc.n_harmonics,
        n_noise_bands=mc.n_noise_bands,
        z_dim=mc.z_dim,
        gru_layers=ddsp.decoder.size.gru_layers,
        gru_hidden=ddsp.decoder.size.gru_hidden,
        nca_channels=nca.config.channels,
        nca_fire_rate=nca.config.fire_rate,
        nca_seed_harmonics=nca.config.seed_harmonics,
        loudness_mean=mc.loudness_mean,
        loudness_std=mc.loudness_std,
        f0_min_hz=fc["f0_min_hz"],
        f0_max_hz=fc["f0_max_hz"],
        f0_tracker=fc["f0_tracker"],
        presets=presets,
        nca_seed_state=nca.seed(1)[0].tolist(),
        reverb_ir=reverb,
        features=dict(fc),
        trained_f0_hz=[mc.f0_trained_low_hz, mc.f0_trained_high_hz],
        trained_harmonics=mc.trained_harmonics,
        trained_loudness_low_db=mc.loudness_trained_low_db,
        encoder_onnx=encoder_onnx_base64(ddsp),
        texture=spec,
        provenance={
            "files": [Path(f).name for f in config["files"]],
            "ddsp_steps": metrics.get("steps"),
            "ddsp_validation": metrics.get("validation"),
            "nca_steps": nca_metrics.get("steps"),
            "nca_distance_grown": nca_metrics.get("distance_grown"),
            "preset": mc.preset,
        },
        package_version=__version__,
    )


def encoder_onnx_base64(ddsp: DDSPAutoencoder) -> str:
    """The timbre encoder as its own small ONNX graph, base64 text for the metadata.

    Input `mfcc` [1, T, n_mfcc] (any T), output `z` [1, Z]: what the trainer's reconstruction
    uses, so a resynthesis can take z from the input's own MFCCs instead of a preset.
    """
    example = torch.zeros(1, 50, ddsp.config.n_mfcc)
    encoded = graph_bytes(
        ddsp.encoder.eval(),
        (example,),
        inputs=("mfcc",),
        outputs=("z",),
        dynamic_axes={"mfcc": {1: "frames"}},
    )
    return base64.b64encode(encoded).decode("ascii")


def example_inputs(meta: ArtifactMetadata) -> tuple[torch.Tensor, ...]:
    """Inputs of the contract's shapes: a 220 Hz, -30 dB frame from the seed state."""
    z = next(iter(meta.presets.values()))
    return (
        torch.tensor([[220.0]]),
        torch.tensor([[-30.0]]),
        torch.tensor([z], dtype=torch.float32),
        torch.zeros(meta.gru_layers, 1, meta.gru_hidden),
        torch.tensor([meta.nca_seed_state], dtype=torch.float32),
        torch.ones(1),
        torch.ones(1, 1, meta.n_harmonics),
    )


def batch_axes() -> dict[str, dict[int, str]]:
    """The batch (voices) axis of every input and output: axis 1 of the GRU state, else 0."""
    return {
        name: {1 if name.startswith("gru_state") else 0: BATCH_AXIS}
        for name in (*INPUT_NAMES, *OUTPUT_NAMES)
    }


def export_onnx(graph: StepGraph, meta: ArtifactMetadata, target: Path) -> None:
    """Write the graph and its metadata to `target` atomically, as one file."""
    import onnx

    with atomic_path(target) as tmp, warnings.catch_warnings():
        # The TorchScript exporter warns about constant folding and GRU batch sizes; the state is
        # explicit, and the export is verified against torch at batch 1 and 8 afterwards.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                graph,
                example_inputs(meta),
                str(tmp),
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes=batch_axes(),
                opset_version=OPSET,
                dynamo=False,
            )
        model = onnx.load(str(tmp))
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, meta.to_json()
        model.producer_name = "timbre-grower"
        model.producer_version = __version__
        onnx.save(model, str(tmp))


def random_controls(
    meta: ArtifactMetadata, n_frames: int, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per-frame controls for verification: a wandering pitch and loudness, NCA steps on about
    half the frames, random fire masks. Arrays are [n_frames, ...] in the contract's shapes."""
    rng = np.random.default_rng(seed)
    lo, hi = np.log(max(meta.f0_min_hz, 40.0)), np.log(min(meta.f0_max_hz, 2000.0))
    log_f0 = np.clip(np.log(220.0) + np.cumsum(rng.normal(0, 0.05, n_frames)), lo, hi)
    loud = np.clip(-30.0 + np.cumsum(rng.normal(0, 1.0, n_frames)), -80.0, 0.0)
    return {
        "f0_hz": np.exp(log_f0).astype(np.float32).reshape(n_frames, 1, 1),
        "loudness_db": loud.astype(np.float32).reshape(n_frames, 1, 1),
        "nca_step": (rng.random((n_frames, 1)) < 0.5).astype(np.float32),
        "nca_fire": (rng.random((n_frames, 1, 1, meta.n_harmonics)) < meta.nca_fire_rate).astype(
            np.float32
        ),
    }
