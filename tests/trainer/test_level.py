"""The level from the controls (trainer/level.py) against the loudness the features measure, and
models whose level follows their loudness input."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import torch

from core.errors import ParameterError
from core.features import a_weighted_loudness
from trainer.dsp import filtered_noise, harmonic_synth
from trainer.level import a_weighting_power, controls_mean_square, noise_gram
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig

SR, HOP, T = 24000, 240, 120
STEADY = slice(10, T - 10)  # frames whose 40 ms analysis window holds only steady controls


def measured_db(audio: torch.Tensor) -> np.ndarray:
    """The features' loudness [T] of audio [1, T * HOP]."""
    return a_weighted_loudness(audio[0].numpy(), sample_rate=SR, hop=HOP)[:T]


def predicted_db(mean_square: torch.Tensor) -> float:
    return float(10 * torch.log10(mean_square[0, 0]))


def test_a_weighting_matches_librosa() -> None:
    freqs = np.geomspace(10.0, 12000.0, 200)
    ours = 10 * np.log10(a_weighting_power(torch.from_numpy(freqs)).numpy())
    np.testing.assert_allclose(ours, librosa.A_weighting(freqs), atol=0.01)
    assert float(a_weighting_power(torch.tensor(0.0))) == 0.0


@pytest.mark.parametrize("f0", [55.0, 220.0, 880.0])
def test_harmonic_level_is_what_the_features_measure(f0: float) -> None:
    gen = torch.Generator().manual_seed(int(f0))
    k = torch.arange(1, 65)
    amps = torch.rand(64, generator=gen) * 0.1 / k * (k * f0 < SR / 2)  # [K] a falling spectrum
    amps = amps.expand(1, T, 64)
    f0_hz = torch.full((1, T), f0)
    audio, _ = harmonic_synth(f0_hz, amps, sample_rate=SR, hop=HOP)
    expected = controls_mean_square(
        amps, f0_hz, torch.zeros(1, T, 8), sample_rate=SR, noise_gram=noise_gram(8, sample_rate=SR)
    )
    got = measured_db(audio)[STEADY].mean()  # at 55 Hz a 40 ms frame holds 2 periods and beats
    assert abs(got - predicted_db(expected)) < 0.05


@pytest.mark.parametrize("shape", ["flat", "low", "high", "ragged"])
def test_noise_level_is_what_the_features_measure(shape: str) -> None:
    bands = torch.linspace(0.0, 1.0, 32)
    mags = {
        "flat": torch.ones(32),
        "low": torch.exp(-8 * bands),
        "high": bands**2,
        "ragged": torch.rand(32, generator=torch.Generator().manual_seed(1)),
    }[shape].expand(1, T, 32) * 0.1
    white = torch.rand(1, T * HOP, generator=torch.Generator().manual_seed(2)) * 2 - 1
    audio = filtered_noise(mags, white, hop=HOP)
    expected = controls_mean_square(
        torch.zeros(1, T, 4),
        torch.full((1, T), 100.0),
        mags,
        sample_rate=SR,
        noise_gram=noise_gram(32, sample_rate=SR),
    )
    got = measured_db(audio)[STEADY].mean()  # a noise frame's level scatters; its mean does not
    assert abs(got - predicted_db(expected)) < 0.5


def steady_output_db(model: DDSPAutoencoder, midi: float, loudness: float) -> float:
    f0 = torch.full((1, T), 440.0 * 2 ** ((midi - 69) / 12))
    mfcc = torch.randn(1, T, 30, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(
            f0, torch.full((1, T), loudness), mfcc, generator=torch.Generator().manual_seed(4)
        )
    return float(measured_db(out.audio)[STEADY].mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_a_loudness_model_plays_the_loudness_it_is_given(seed: int) -> None:
    """Whatever the (random) weights, pitch and dynamics: also far outside any training."""
    torch.manual_seed(seed)
    follows = DDSPAutoencoder(ModelConfig(level="loudness", loudness_trained_low_db=-40.0)).eval()
    torch.manual_seed(seed)
    learned = DDSPAutoencoder(ModelConfig(level="learned")).eval()
    errors: dict[str, list[float]] = {"loudness": [], "learned": []}
    for midi in (36.0, 60.0, 90.0):
        for loudness in (-70.0, -40.0, -20.0, -6.0):
            errors["loudness"].append(steady_output_db(follows, midi, loudness) - loudness)
            errors["learned"].append(steady_output_db(learned, midi, loudness) - loudness)
    assert np.abs(errors["loudness"]).max() < 0.3, errors["loudness"]
    assert np.abs(errors["learned"]).max() > 5.0  # the test can tell the two apart


def test_the_level_is_set_before_the_nca_mask() -> None:
    """Growth shapes the timbre as it did: the mask redistributes a frame's amplitude."""
    torch.manual_seed(0)
    model = DDSPAutoencoder(ModelConfig(level="loudness")).eval()
    f0, loud = torch.full((1, 4), 220.0), torch.full((1, 4), -30.0)
    raw, _ = model.decode_raw(f0, loud, torch.zeros(1, 16))
    full = model.physical_controls(raw, f0, loud)
    fundamental = torch.zeros(1, 64)
    fundamental[0, 0] = 1.0
    grown = model.physical_controls(raw, f0, loud, mask=fundamental)
    torch.testing.assert_close(grown.harmonic_amps.sum(-1), full.harmonic_amps.sum(-1))
    torch.testing.assert_close(grown.noise_mags, full.noise_mags)


def test_level_mode_is_checked_and_old_runs_keep_theirs() -> None:
    with pytest.raises(ParameterError, match="level='loud' must be one of loudness, learned"):
        ModelConfig(level="loud")
    stored = json.loads(json.dumps(ModelConfig().to_dict()))
    del stored["level"]  # a run written before the field existed
    assert ModelConfig(**stored).level == "learned"
