"""Segment sampling: aligned, seeded, never from the validation tail, weighted by length."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import AudioFileError
from core.features import Features
from trainer.dataset import SegmentDataset

HOP = 10


def ramp_features(n_frames: int, offset: float) -> Features:
    """Features whose values encode their own position, so a sampled segment shows where it
    came from."""
    frames = offset + np.arange(n_frames, dtype=np.float32)
    return Features(
        audio=np.repeat(frames, HOP),
        f0_hz=frames.copy(),
        voiced=np.ones(n_frames, bool),
        loudness_db=-frames,
        mfcc=np.stack([frames] * 3, axis=1),
    )


def make_dataset(**kwargs) -> SegmentDataset:
    feats = [ramp_features(100, 0.0), ramp_features(300, 1000.0)]
    return SegmentDataset(feats, ["a", "b"], hop=HOP, segment_frames=20, **kwargs)


def test_segments_are_aligned_and_come_from_the_training_part() -> None:
    data = make_dataset(val_fraction=0.1)
    batch = data.sample(np.random.default_rng(0), 64)
    assert batch.audio.shape == (64, 20 * HOP) and batch.mfcc.shape == (64, 20, 3)
    for i in range(64):
        start = batch.f0_hz[i, 0]
        np.testing.assert_array_equal(batch.f0_hz[i], start + np.arange(20))
        np.testing.assert_array_equal(batch.audio[i], np.repeat(batch.f0_hz[i], HOP))
        np.testing.assert_array_equal(batch.loudness_db[i], -batch.f0_hz[i])
        last = batch.f0_hz[i, -1]
        assert last < 90 or 1000 <= last < 1270  # validation tails: frames 90+ and 1270+


def test_validation_is_the_tail_of_each_file() -> None:
    data = make_dataset(val_fraction=0.1)
    assert [v.n_frames for v in data.validation] == [10, 30]
    assert data.validation[0].f0_hz[0] == 90 and data.validation[1].f0_hz[0] == 1270
    assert data.validation_names == ["a", "b"]


def test_sampling_is_seeded() -> None:
    data = make_dataset()
    one = data.sample(np.random.default_rng(7), 8)
    two = data.sample(np.random.default_rng(7), 8)
    other = data.sample(np.random.default_rng(8), 8)
    np.testing.assert_array_equal(one.audio, two.audio)
    assert not np.array_equal(one.audio, other.audio)


def test_files_are_drawn_in_proportion_to_their_length() -> None:
    data = make_dataset(val_fraction=0.0)
    batch = data.sample(np.random.default_rng(0), 4000)
    from_b = np.mean(batch.f0_hz[:, 0] >= 1000)
    assert from_b == pytest.approx(281 / (81 + 281), abs=0.03)  # segment starts per file


def test_loudness_statistics_come_from_training_frames() -> None:
    data = make_dataset(val_fraction=0.1)
    train_loudness = np.concatenate([-np.arange(90.0), -(1000 + np.arange(270.0))])
    assert data.loudness_mean == pytest.approx(train_loudness.mean())
    assert data.loudness_std == pytest.approx(train_loudness.std())


def test_file_shorter_than_a_segment_is_refused() -> None:
    with pytest.raises(AudioFileError, match=r"short: too short: 0\.18 s of training audio"):
        SegmentDataset([ramp_features(20, 0.0)], ["short"], hop=HOP, segment_frames=20)


def test_silence_segments_are_mixed_in_at_the_asked_rate() -> None:
    silent_loudness = np.full(20, -100.0, np.float32)
    silent_mfcc = np.full((20, 3), -7.0, np.float32)
    data = make_dataset(silence=(silent_loudness, silent_mfcc))
    batch = data.sample(np.random.default_rng(0), 2000, silence_fraction=0.1)
    quiet = np.all(batch.audio == 0, axis=1)
    assert 0.08 < quiet.mean() < 0.12
    assert np.all(batch.loudness_db[quiet] == -100.0) and np.all(batch.mfcc[quiet] == -7.0)
    assert np.all(batch.f0_hz[quiet] > 0)  # a real segment's pitch, only the sound is gone
    assert not np.any(batch.loudness_db[~quiet] == -100.0)
    plain = data.sample(np.random.default_rng(0), 200)
    assert not np.any(np.all(plain.audio == 0, axis=1))


def test_silence_features_are_what_the_extractors_read_from_zeros() -> None:
    from core.features import FeatureConfig, silence_features

    config = FeatureConfig()
    loudness, mfcc = silence_features(50, config)
    assert loudness.shape == (50,) and mfcc.shape == (50, config.n_mfcc)
    assert np.all(loudness == config.loudness_floor_db)
    assert np.all(np.isfinite(mfcc)) and np.ptp(mfcc, axis=0).max() == 0.0  # constant frames


def test_validation_excerpt_is_lengthened_by_the_training_audio_before_it() -> None:
    data = make_dataset(val_fraction=0.1)  # file b: 300 frames, validation from frame 270
    excerpt, start = data.validation_excerpt(1, 100)
    assert excerpt.n_frames == 100 and start == 70
    np.testing.assert_array_equal(excerpt.f0_hz, 1000.0 + np.arange(200, 300))
    np.testing.assert_array_equal(excerpt.f0_hz[start:], data.validation[1].f0_hz)
    whole, start = data.validation_excerpt(1, 10)  # never shorter than the slice itself
    assert whole.n_frames == 30 and start == 0
    longest, start = data.validation_excerpt(0, 1000)  # no more audio than the file has
    assert longest.n_frames == 100 and start == 90
