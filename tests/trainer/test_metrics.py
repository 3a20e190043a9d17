"""The reconstruction metrics tell a level that does not follow the notes from noisy rests."""

from __future__ import annotations

import numpy as np
import pytest

from core.features import FeatureConfig, compute_features
from tests.conftest import harmonic_tone
from trainer.metrics import reconstruction_metrics

RATE = 24000


def notes_and_rests(note_gain: float, rest_noise: float) -> np.ndarray:
    """Two 0.8 s notes, each followed by a 0.6 s rest holding white noise of that amplitude."""
    rest = rest_noise * np.random.default_rng(0).uniform(-1, 1, int(0.6 * RATE))
    note = note_gain * harmonic_tone(330.0, 0.8, sample_rate=RATE)
    return np.concatenate([note, rest, note, rest]).astype(np.float32)


@pytest.fixture(scope="module")
def original() -> tuple:
    config = FeatureConfig(sample_rate=RATE, f0_tracker="yin")
    return compute_features(notes_and_rests(1.0, 1e-4), config), config


def test_quieter_notes_show_in_the_voiced_loudness(original: tuple) -> None:
    target, config = original
    scores = reconstruction_metrics(notes_and_rests(0.5, 1e-4), target, config)
    assert scores["loudness_l1_voiced_db"] == pytest.approx(6.0, abs=0.5)  # half the amplitude
    assert scores["loudness_l1_unvoiced_db"] < 3.0


def test_noisy_rests_show_in_the_unvoiced_loudness(original: tuple) -> None:
    target, config = original
    scores = reconstruction_metrics(notes_and_rests(1.0, 1e-2), target, config)  # rests +40 dB
    assert scores["loudness_l1_voiced_db"] < 1.0
    assert scores["loudness_l1_unvoiced_db"] > 20.0
    assert scores["loudness_l1_voiced_db"] < scores["loudness_l1_db"]
