"""Export: torch vs onnxruntime over long sequences, metadata, the CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from core.features import FeatureConfig
from export.contract import (
    FORMAT_VERSION,
    METADATA_KEY,
    ArtifactError,
    ArtifactMetadata,
    TextureSpec,
)
from export.onnx_export import build_metadata, load_run
from export.step_graph import StepGraph
from export.verify import TOLERANCE, compare
from realtime.model import load_model
from tests.export_fixtures import add_texture, make_run
from trainer.run_dir import RunDir

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("batch", "frames", "own"), [(1, 800, True), (8, 200, False), (3, 100, False)]
)
def test_torch_and_onnxruntime_agree_over_long_sequences(
    exported: tuple[RunDir, Path], batch: int, frames: int, own: bool
) -> None:
    """One voice and several in one call (the batch axis), state carried by each side or fed
    from torch's."""
    run, path = exported
    ddsp, nca, config = load_run(run)
    meta = build_metadata(run, ddsp, nca, config)
    graph = StepGraph(ddsp, nca)
    worst = compare(graph, path, meta, n_frames=frames, seed=3, batch=batch, own_state=own)
    assert set(worst) >= {"harmonic_amps", "harmonic_amps_full"}
    assert max(worst.values()) < TOLERANCE, worst


def test_the_unmasked_output_is_the_frame_with_an_all_ones_mask(
    exported: tuple[RunDir, Path],
) -> None:
    """harmonic_amps_full = harmonic_amps of the same frame fed an all-ones NCA state without a
    step (what a version-2 engine computed with a second call)."""
    import numpy as np

    from realtime.model import load_model

    model = load_model(exported[1])
    meta = model.meta
    rng = np.random.default_rng(0)
    feeds = {
        "f0_hz": np.array([[220.0], [330.0]], np.float32),
        "loudness_db": np.array([[-20.0], [-35.0]], np.float32),
        "z": rng.normal(size=(2, meta.z_dim)).astype(np.float32),
        "gru_state": rng.normal(size=(meta.gru_layers, 2, meta.gru_hidden)).astype(np.float32),
        "nca_state": rng.random((2, meta.nca_channels, meta.n_harmonics)).astype(np.float32),
        "nca_step": np.array([1.0, 0.0], np.float32),
        "nca_fire": np.ones((2, 1, meta.n_harmonics), np.float32),
    }
    names = [o.name for o in model.session.get_outputs()]
    out = dict(zip(names, model.session.run(None, feeds), strict=True))
    ones = {
        **feeds,
        "nca_state": np.ones_like(feeds["nca_state"]),
        "nca_step": np.zeros(2, np.float32),
    }
    plain = model.session.run(["harmonic_amps"], ones)[0]
    assert np.abs(out["harmonic_amps_full"] - plain).max() <= 1e-6 * np.abs(plain).max()
    assert np.abs(out["harmonic_amps"] - plain).max() > 0.01 * np.abs(plain).max()  # masked


def test_the_artifact_is_one_file_with_the_metadata(exported: tuple[RunDir, Path]) -> None:
    _, path = exported
    model = onnx.load(str(path))
    assert not [i for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    props = {p.key: p.value for p in model.metadata_props}
    meta = ArtifactMetadata.from_json(props[METADATA_KEY])
    assert meta.format_version == FORMAT_VERSION
    assert (meta.n_harmonics, meta.n_noise_bands, meta.z_dim) == (64, 64, 16)
    assert (meta.gru_layers, meta.gru_hidden, meta.nca_channels) == (1, 192, 16)
    assert meta.frame_rate == 100.0
    assert set(meta.presets) == {"flute", "breathy"}
    assert meta.nca_seed_state[0][:2] == [1.0, 0.0]
    assert meta.provenance["files"] == ["flute.wav"]


def test_metadata_errors_name_the_problem() -> None:
    good = json.loads(_valid_metadata().to_json())
    with pytest.raises(ArtifactError, match="format version 99 is not supported"):
        ArtifactMetadata.from_json(json.dumps({**good, "format_version": 99}))
    with pytest.raises(ArtifactError, match="metadata lacks hop, z_dim"):
        ArtifactMetadata.from_json(
            json.dumps({k: v for k, v in good.items() if k not in ("hop", "z_dim")})
        )
    with pytest.raises(ArtifactError, match="preset 'x' has 3 values, z_dim is 16"):
        ArtifactMetadata.from_json(json.dumps({**good, "presets": {"x": [0, 1, 2]}}))
    with pytest.raises(ArtifactError, match="not valid JSON"):
        ArtifactMetadata.from_json("{nope")


def _valid_metadata() -> ArtifactMetadata:
    return ArtifactMetadata(
        format_version=FORMAT_VERSION,
        sample_rate=24000,
        hop=240,
        n_harmonics=64,
        n_noise_bands=64,
        z_dim=16,
        gru_layers=1,
        gru_hidden=192,
        nca_channels=16,
        nca_fire_rate=0.5,
        nca_seed_harmonics=1,
        loudness_mean=-30.0,
        loudness_std=10.0,
        f0_min_hz=50.0,
        f0_max_hz=2000.0,
        f0_tracker="pyin",
        presets={"a": [0.0] * 16},
        nca_seed_state=[[0.0] * 64 for _ in range(16)],
        features=dataclasses.asdict(FeatureConfig()),
        trained_f0_hz=[200.0, 800.0],
        trained_harmonics=60,
    )


def test_format_1_metadata_still_loads() -> None:
    """Version 1 had no feature settings, trained range or encoder: they are filled in."""
    v2 = json.loads(_valid_metadata().to_json())
    v1 = {
        k: v
        for k, v in v2.items()
        if k not in ("features", "trained_f0_hz", "trained_harmonics", "encoder_onnx")
    }
    meta = ArtifactMetadata.from_json(json.dumps({**v1, "format_version": 1}))
    assert meta.features == dataclasses.asdict(FeatureConfig())  # what every v1 run used
    assert meta.trained_harmonics == 0 and meta.in_trained_range(3000.0)
    assert not meta.encoder_onnx
    with pytest.raises(ArtifactError, match="lacks the feature settings"):
        ArtifactMetadata.from_json(json.dumps({**v1, "format_version": 2}))
    with pytest.raises(ArtifactError, match=r"trained_harmonics=65 must be in 0\.\.64"):
        ArtifactMetadata.from_json(json.dumps({**v2, "trained_harmonics": 65}))
    assert ArtifactMetadata.from_json(json.dumps(v2)).trained_loudness_low_db is None
    low = ArtifactMetadata.from_json(json.dumps({**v2, "trained_loudness_low_db": -32.5}))
    assert low.trained_loudness_low_db == -32.5
    with pytest.raises(ArtifactError, match="trained_loudness_low_db='quiet' must be a number"):
        ArtifactMetadata.from_json(json.dumps({**v2, "trained_loudness_low_db": "quiet"}))


@pytest.mark.slow
def grow_export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "grow-export"), *args], capture_output=True, text=True, timeout=300
    )


def test_grow_export_cli(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", seed=1, level="learned")  # runs made before --level export too
    out = tmp_path / "model.onnx"
    done = subprocess.run(
        [str(BIN / "grow-export"), str(run.root), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "model card" in done.stdout and "presets breathy, flute" in done.stdout
    assert "worst relative difference" in done.stdout and "us per frame" in done.stdout
    assert "texture: none (grow-train --resume --phase texture adds one)" in done.stdout
    assert out.stat().st_size > 100_000
    assert not list(tmp_path.glob(".*"))  # no temporary left behind
    again = subprocess.run(
        [str(BIN / "grow-export"), str(run.root), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    (run.nca_checkpoint).unlink()
    no_nca = subprocess.run(
        [str(BIN / "grow-export"), str(run.root), "--out", str(tmp_path / "x.onnx")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert no_nca.returncode == 2
    assert "no nca.pt; train the nca phase first" in no_nca.stderr
    assert f"(grow-train --out {run.root} --resume --phase nca)" in no_nca.stderr
    assert "Traceback" not in no_nca.stderr


def test_grow_export_refuses_a_wrong_output_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from export.cli import main

    run = tmp_path / "run"
    assert main([str(run), "--out", str(tmp_path / "model.wav")]) == 2
    assert "--out" in capsys.readouterr().err  # names the option
    assert main([str(run), "--out", str(tmp_path / "missing" / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert f"folder {tmp_path / 'missing'} does not exist" in err
    assert main([str(run), "--out", str(tmp_path / "model.wav")]) == 2
    assert "model.wav must end in .onnx" in capsys.readouterr().err
    for frames in ("0", "-5"):  # no export that claims a verification it never ran
        assert main([str(run), "--out", str(tmp_path / "m.onnx"), "--verify-frames", frames]) == 2
        assert f"--verify-frames {frames} must be in 10..100000" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written, nothing created


def test_grow_export_embeds_and_verifies_the_texture(tmp_path: Path) -> None:
    """A run with a texture NCA: both of its graphs are in the one file, checked against torch,
    and the model card says what it is; the metadata of a file without one has none."""
    run = make_run(tmp_path / "run", seed=2)
    add_texture(run)
    out = tmp_path / "model.onnx"
    done = grow_export(str(run.root), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "texture: a 0.4 s loop of 10 x 57 cells, 16 channels, 96 steps" in done.stdout
    assert "1.10 x the DDSP model's distance" in done.stdout
    for name in ("texture_state_out", "texture_harmonic_amps", "texture_noise_mags"):
        assert f"{name} " in done.stdout, name
    meta = load_model(out).meta
    assert TextureSpec.of(meta).frames == 10
    broken = dataclasses.replace(meta, texture={**meta.texture, "seed_cells": [[0.0]]})
    with pytest.raises(ArtifactError, match="texture seed_cells must be"):
        broken.check()
