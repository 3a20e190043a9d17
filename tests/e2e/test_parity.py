"""Train/serve parity: the engine plays what the model learned.

A short training on the bundled example, exported; then the same audio, the same features and
the same z through the trainer's reconstruction (torch) and through grow-render --input (the
engine, onnxruntime + numpy). The harmonic part agrees to numerical precision; the whole output
(whose noise differs: torch's generator against the engine's counter-based one) scores the same
spectral distance to the recording within 2 %; renders at 44.1, 48 and 96 kHz score within 5 %
of the training-rate render (measured at the training rate).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

from core.audio import load_audio
from core.features import FeatureConfig, a_weighted_loudness, compute_features
from export.contract import METADATA_KEY
from export.onnx_export import load_run
from realtime import render_cli
from realtime.model import load_model
from realtime.timbre_encoder import encode_timbre
from trainer.example import example_audio_path
from trainer.metrics import spectral_distance
from trainer.report import resynthesize
from trainer.run_dir import RunDir

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, feature_cache_env: dict[str, str]
) -> tuple[Path, Path, Path]:
    """(run directory, model.onnx, held-out slice WAV at the training rate)."""
    root = tmp_path_factory.mktemp("parity")
    run, model = root / "run", root / "model.onnx"
    train = [str(BIN / "grow-train"), "--example", "--out", str(run), "--quiet"]
    for args in (
        [*train, "--steps", "200", "--nca-steps", "2"],
        [str(BIN / "grow-export"), str(run), "--out", str(model)],
    ):
        done = subprocess.run(args, capture_output=True, text=True, env=feature_cache_env)
        assert done.returncode == 0, done.stderr
    config = json.loads((run / "config.json").read_text())
    rate = config["features"]["sample_rate"]
    audio = load_audio(example_audio_path(), sample_rate=rate)
    held_out = root / "held_out.wav"
    sf.write(held_out, audio[round(0.7 * audio.shape[0]) :], rate, subtype="FLOAT")
    return run, model, held_out


def engine_render(model: Path, source: Path, out: Path, *flags: str) -> np.ndarray:
    code = render_cli.main(
        [
            "--model",
            str(model),
            "--input",
            str(source),
            "--out",
            str(out),
            "--format",
            "float",
            *flags,
        ]
    )
    assert code == 0
    audio, _ = sf.read(out, dtype="float32")
    return audio


def test_engine_resynthesis_equals_the_trainers_reconstruction(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    run_root, model, held_out = trained
    ddsp, _, config = load_run(RunDir(run_root))
    feature_config = FeatureConfig(**config["features"])
    rate = feature_config.sample_rate
    target = load_audio(held_out, sample_rate=rate)
    features = compute_features(target, feature_config)
    trainer = resynthesize(ddsp, features)
    n = features.audio.shape[0]
    reference = features.audio

    # Harmonic part: noise at -120 dB and no gate, so only the oscillators and the graph speak.
    harmonic = engine_render(
        model,
        held_out,
        tmp_path / "h.wav",
        "--samplerate",
        str(rate),
        "--noise",
        "-120",
        "--gate",
        "-120",
    )[:n]
    expected = trainer.harmonic[0].numpy()
    assert harmonic.shape == expected.shape
    peak = float(np.abs(expected).max())
    assert peak > 1e-3  # it really plays
    # All but the last frame's segment: there the engine already interpolates towards the frame
    # after the input (it cannot know the input ends), where the trainer holds the last frame.
    body = n - feature_config.hop
    assert float(np.abs(harmonic[:body] - expected[:body]).max()) < 1e-4 * peak

    # The whole output with default flags: the same distance to the recording within 2 %.
    d_trainer = spectral_distance(trainer.audio[0].numpy(), reference)
    whole = engine_render(model, held_out, tmp_path / "w.wav", "--samplerate", str(rate))[:n]
    d_engine = spectral_distance(whole, reference)
    assert abs(d_engine - d_trainer) < 0.02 * d_trainer, (d_engine, d_trainer)

    # Device rates: the same sound, measured at the training rate.
    for out_rate in (44100, 48000, 96000):
        played = engine_render(
            model, held_out, tmp_path / f"r{out_rate}.wav", "--samplerate", str(out_rate)
        )
        at_training_rate = librosa.resample(played, orig_sr=out_rate, target_sr=rate)[:n]
        d_rate = spectral_distance(at_training_rate.astype(np.float32), reference)
        assert abs(d_rate - d_engine) < 0.05 * d_engine, (out_rate, d_rate, d_engine)


@pytest.mark.parametrize("shift", [0, 12])
def test_the_engine_plays_the_loudness_it_is_given(
    trained: tuple[Path, Path, Path], tmp_path: Path, shift: int
) -> None:
    """A new run's level follows its loudness input (--level loudness, the default): through the
    engine at 48 kHz with default flags the output's loudness is the recording's on its notes,
    also an octave up, where the decoder plays its timbre at the highest trained pitch."""
    run_root, model, held_out = trained
    config = json.loads((run_root / "config.json").read_text())
    assert config["model"]["level"] == "loudness"
    feature_config = FeatureConfig(**config["features"])
    rate = feature_config.sample_rate
    features = compute_features(load_audio(held_out, sample_rate=rate), feature_config)
    played = engine_render(
        model, held_out, tmp_path / "p.wav", "--samplerate", "48000", "--pitch-shift", str(shift)
    )
    at_rate = librosa.resample(played, orig_sr=48000, target_sr=rate)
    loud = a_weighted_loudness(at_rate, sample_rate=rate, hop=feature_config.hop)
    notes = features.voiced & (features.loudness_db > -60.0)
    error = np.abs(loud[: features.n_frames] - features.loudness_db)[notes]
    assert notes.sum() > 50 and float(error.mean()) < 1.0, float(error.mean())


def test_a_model_knows_what_training_made_audible(trained: tuple[Path, Path, Path]) -> None:
    """The run stores the trained pitch range, and harmonics above what the lowest trained
    pitch brings below the training Nyquist are silent at any pitch."""
    run_root, _, _ = trained
    ddsp, _, _ = load_run(RunDir(run_root))
    mc = ddsp.config
    assert 0 < mc.f0_trained_low_hz < mc.f0_trained_high_hz
    assert mc.trained_harmonics == min(
        mc.n_harmonics, int(np.ceil(mc.sample_rate / 2 / mc.f0_trained_low_hz)) - 1
    )
    f0 = torch.full((1, 20), 0.5 * mc.f0_trained_low_hz)  # an octave below anything trained
    with torch.no_grad():
        controls, _ = ddsp.controls(f0, torch.full((1, 20), -30.0), torch.zeros(1, mc.z_dim))
    assert float(controls.harmonic_amps[..., mc.trained_harmonics :].abs().max()) == 0.0
    assert float(controls.harmonic_amps[..., : mc.trained_harmonics].sum()) > 0.0


def test_timbre_input_is_the_trainers_z(
    trained: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The artifact's encoder gives the z the trainer's reconstruction uses; a model without one
    is refused with a sentence that says what to do."""
    run_root, model, held_out = trained
    ddsp, _, config = load_run(RunDir(run_root))
    feature_config = FeatureConfig(**config["features"])
    features = compute_features(
        load_audio(held_out, sample_rate=feature_config.sample_rate), feature_config
    )
    meta = load_model(model).meta
    assert meta.features == config["features"]
    with torch.no_grad():
        expected = ddsp.encoder(torch.from_numpy(features.mfcc)[None])[0].numpy()
    z = encode_timbre(meta, features.mfcc)
    assert np.abs(z - expected).max() < 1e-4 * max(1.0, float(np.abs(expected).max()))

    onnx_model = onnx.load(str(model))
    entry = next(p for p in onnx_model.metadata_props if p.key == METADATA_KEY)
    entry.value = json.dumps({**json.loads(entry.value), "encoder_onnx": ""})
    no_encoder = tmp_path / "no-encoder.onnx"
    onnx.save(onnx_model, str(no_encoder))
    args = ["--model", str(no_encoder), "--input", str(held_out), "--out", str(tmp_path / "x.wav")]
    assert render_cli.main([*args, "--timbre", "input"]) == 2
    assert "carries no timbre encoder" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
    assert render_cli.main(args) == 0  # without --timbre it falls back to the first preset
