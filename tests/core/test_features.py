"""Features on synthetic tones with known pitch and level."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import AudioFileError, ParameterError
from core.features import FeatureConfig, a_weighted_loudness, compute_features, fill_unvoiced
from tests.conftest import harmonic_tone

SR, HOP = 24000, 240


def sine(freq: float, amplitude: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("tracker", ["pyin", "yin"])
@pytest.mark.parametrize("f0", [110.0, 440.0, 1318.5])
def test_f0_of_a_harmonic_tone(tracker: str, f0: float) -> None:
    audio = harmonic_tone(f0, 1.0, sample_rate=SR)
    feats = compute_features(audio, FeatureConfig(f0_tracker=tracker))
    middle = slice(10, -10)
    assert feats.voiced[middle].mean() > 0.9
    cents = 1200 * np.log2(np.median(feats.f0_hz[middle]) / f0)
    assert abs(cents) < 10


def test_frames_align_with_the_hop() -> None:
    feats = compute_features(sine(440, 0.5, 1.005), FeatureConfig())
    assert feats.n_frames == 100 == len(feats.loudness_db) == feats.mfcc.shape[0]
    assert feats.audio.shape == (100 * HOP,)
    assert feats.mfcc.shape[1] == 30


def test_loudness_of_a_full_scale_sine_is_minus_3_db() -> None:
    level = a_weighted_loudness(sine(1000, 1.0), sample_rate=SR, hop=HOP)
    assert np.median(level[5:-5]) == pytest.approx(-3.0, abs=0.2)


def test_loudness_follows_amplitude_in_db() -> None:
    loud = np.median(a_weighted_loudness(sine(1000, 0.5), sample_rate=SR, hop=HOP)[5:-5])
    quiet = np.median(a_weighted_loudness(sine(1000, 0.05), sample_rate=SR, hop=HOP)[5:-5])
    assert loud - quiet == pytest.approx(20.0, abs=0.1)


def test_loudness_is_a_weighted() -> None:
    """A-weighting is -19.1 dB at 100 Hz relative to 1 kHz (IEC 61672)."""
    at_1k = np.median(a_weighted_loudness(sine(1000, 0.5), sample_rate=SR, hop=HOP)[5:-5])
    at_100 = np.median(a_weighted_loudness(sine(100, 0.5), sample_rate=SR, hop=HOP)[5:-5])
    assert at_100 - at_1k == pytest.approx(-19.1, abs=0.5)


def test_loudness_does_not_depend_on_sample_rate() -> None:
    t48 = np.arange(48000) / 48000
    at48 = a_weighted_loudness(
        (0.3 * np.sin(2 * np.pi * 1000 * t48)).astype(np.float32), sample_rate=48000, hop=480
    )
    at24 = a_weighted_loudness(sine(1000, 0.3), sample_rate=SR, hop=HOP)
    assert np.median(at48[5:-5]) == pytest.approx(np.median(at24[5:-5]), abs=0.1)


def test_silence_reads_the_floor() -> None:
    level = a_weighted_loudness(np.zeros(SR, np.float32), sample_rate=SR, hop=HOP, floor_db=-100)
    assert np.all(level == -100.0)


def test_fill_unvoiced_interpolates_in_log_frequency() -> None:
    f0 = np.array([np.nan, 200.0, np.nan, 800.0, np.nan], dtype=np.float32)
    voiced = np.isfinite(f0)
    np.testing.assert_allclose(fill_unvoiced(f0, voiced), [200, 200, 400, 800, 800], rtol=1e-5)
    with pytest.raises(AudioFileError, match="no pitched frames"):
        fill_unvoiced(np.full(4, np.nan, np.float32), np.zeros(4, bool))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"f0_tracker": "spice"}, "f0_tracker='spice' must be one of pyin, yin, crepe"),
        ({"hop": 8}, "hop=8 must be >= 16"),
        (
            {"f0_min_hz": 500.0, "f0_max_hz": 100.0},
            r"f0_min_hz=500.0 and f0_max_hz=100.0 must give a pitch range 0 < min < max",
        ),
        ({"sample_rate": 4000}, "sample_rate=4000 must be at least 8000"),
    ],
)
def test_bad_feature_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        FeatureConfig(**kwargs)
