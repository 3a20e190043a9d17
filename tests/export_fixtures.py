"""A small run directory with untrained-but-random weights, for export and loader tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.atomic import write_json
from trainer.checkpoint import save_checkpoint
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig
from trainer.models.nca import HarmonicNCA, NCAConfig
from trainer.models.texture_nca import TextureConfig, TextureNCA
from trainer.run_dir import RunDir


def make_run(root: Path, *, seed: int = 0, level: str = "loudness") -> RunDir:
    """Write config.json, checkpoint.pt, nca.pt and presets.json as grow-train would (`level`:
    ModelConfig.level, the mode new runs get by default)."""
    torch.manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    run = RunDir(root)
    model_config = ModelConfig(  # the export check's wandering loudness crosses the low
        preset="tiny",
        loudness_mean=-30.0,
        loudness_std=10.0,
        loudness_trained_low_db=-35.0,
        level=level,
    )
    nca_config = NCAConfig()
    ddsp = DDSPAutoencoder(model_config)
    nca = HarmonicNCA(nca_config)
    with torch.no_grad():  # a rule that really changes the state, unlike the zero start
        for p in nca.rule.parameters():
            p.normal_(0, 0.1)
    features = {
        "sample_rate": 24000,
        "hop": 240,
        "f0_tracker": "pyin",
        "f0_min_hz": 50.0,
        "f0_max_hz": 2000.0,
        "n_mfcc": 30,
        "loudness_floor_db": -100.0,
    }
    write_json(
        run.config,
        {
            "version": "0.1.0",
            "files": ["/data/flute.wav"],
            "features": features,
            "model": model_config.to_dict(),
            "train": {},
            "nca": nca_config.to_dict(),
            "nca_train": {},
        },
    )
    save_checkpoint(run.checkpoint, {"model": ddsp.state_dict()})
    save_checkpoint(run.nca_checkpoint, {"nca": nca.state_dict()})
    write_json(
        run.presets, {"flute": torch.randn(16).tolist(), "breathy": torch.randn(16).tolist()}
    )
    write_json(run.metrics, {"steps": 10, "validation": {}})
    return run


def add_texture(run: RunDir, *, frames: int = 10, frame_stride: int = 4, seed: int = 0) -> None:
    """Give the run a texture NCA with random (growing) weights, as --phase texture would: its
    settings in config.json, texture.pt and texture_metrics.json."""
    torch.manual_seed(seed)
    config = json.loads(run.config.read_text())
    texture_config = TextureConfig(
        frames=frames,
        frame_stride=frame_stride,
        harmonic_cells=40,
        noise_cells=16,
        n_harmonics=config["model"]["n_harmonics"],
        n_noise_bands=config["model"]["n_noise_bands"],
    )
    texture = TextureNCA(texture_config)
    with torch.no_grad():
        for p in texture.rule.parameters():
            p.normal_(0, 0.05)
    write_json(run.config, {**config, "texture": texture_config.to_dict()})
    save_checkpoint(run.texture_checkpoint, {"texture": texture.state_dict()})
    write_json(run.texture_metrics, {"held_note_hz": 330.0, "distance_ratio": 1.1, "steps": 5})


def export_run(run: RunDir, target: Path) -> Path:
    """Export the run's models (its texture too, when it has one) to `target`, unverified."""
    from export.onnx_export import build_metadata, export_onnx, load_run, load_texture
    from export.step_graph import StepGraph

    ddsp, nca, config = load_run(run)
    meta = build_metadata(run, ddsp, nca, config, texture=load_texture(run, config))
    export_onnx(StepGraph(ddsp, nca), meta, target)
    return target


@pytest.fixture(scope="session")
def exported_texture(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunDir, Path]:
    """A run with a texture NCA and its artifact (exported once per test session)."""
    root = tmp_path_factory.mktemp("export-texture")
    run = make_run(root / "run")
    add_texture(run)
    return run, export_run(run, root / "t.onnx")


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunDir, Path]:
    """A run and its exported artifact (exported once per test session)."""
    from export.onnx_export import build_metadata, export_onnx, load_run
    from export.step_graph import StepGraph

    root = tmp_path_factory.mktemp("export")
    run = make_run(root / "run")
    ddsp, nca, config = load_run(run)
    meta = build_metadata(run, ddsp, nca, config)
    path = root / "m.onnx"
    export_onnx(StepGraph(ddsp, nca), meta, path)
    assert json.loads(meta.to_json())["presets"].keys() == {"flute", "breathy"}
    return run, path


def as_version_2(source: Path, target: Path) -> Path:
    """A format-2 artifact made from a format-3 one: the graph without `harmonic_amps_full` and
    metadata saying version 2, so the engine takes its batch-1 path (one call per voice, a second
    for the unmasked frame), as it does for files exported before version 3."""
    import onnx

    from export.contract import METADATA_KEY

    model = onnx.load(str(source))
    outputs = [o for o in model.graph.output if o.name != "harmonic_amps_full"]
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = json.dumps({**json.loads(prop.value), "format_version": 2})
    onnx.save(model, str(target))
    return target
