"""The streaming trackers (realtime.tracker) against known tones, the trainer's loudness, and
the bundled flute as pyin tracks it."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import load_audio
from core.errors import ParameterError
from core.features import a_weighted_loudness
from realtime.tracker import OCTAVE_HOLD_FRAMES, StreamingTracker
from tests.conftest import harmonic_tone


def track(tracker: StreamingTracker, audio: np.ndarray, hop: int) -> list:
    """Push audio [n] a hop at a time, analysing after each: one frame per hop."""
    frames = []
    for start in range(0, audio.shape[0] - hop + 1, hop):
        tracker.push(audio[start : start + hop])
        frames.append(tracker.analyse())
    return frames


def cents(a: object, b: object) -> np.ndarray:
    return 1200 * np.abs(np.log2(np.asarray(a, float) / np.asarray(b, float)))


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("f0", [82.0, 220.0, 440.0, 1318.5])
def test_steady_tones_are_tracked_to_a_few_cents(rate: int, f0: float) -> None:
    tone = harmonic_tone(f0, 0.6, sample_rate=rate)
    tracker = StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000)
    frames = track(tracker, tone, rate // 100)[10:-10]  # away from the fades
    assert all(frame.voiced for frame in frames)
    assert np.median(cents([fr.f0_hz for fr in frames], f0)) < 2.0
    assert max(cents([fr.f0_hz for fr in frames], f0)) < 10.0


def test_a_strong_second_harmonic_does_not_lift_the_octave() -> None:
    rate, f0 = 48000, 196.0
    tone = harmonic_tone(f0, 0.5, sample_rate=rate, harmonic_amps=(0.1, 0.5, 0.2, 0.1))
    frames = track(StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000), tone, 480)[8:-8]
    assert np.median(cents([fr.f0_hz for fr in frames], f0)) < 2.0


@pytest.mark.parametrize("ratio", [2.0, 0.5])
def test_a_real_octave_leap_is_followed_within_the_guard(ratio: float) -> None:
    rate, f0, hop = 48000, 262.0, 480
    first = harmonic_tone(f0, 0.4, sample_rate=rate)[: rate // 5 * 2]
    second = harmonic_tone(f0 * ratio, 0.4, sample_rate=rate)[rate // 50 :]  # no fade-in gap
    frames = track(StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000), np.r_[first, second], hop)
    leap = first.shape[0] // hop
    settled = [fr.f0_hz for fr in frames[leap + OCTAVE_HOLD_FRAMES + 3 : -10]]
    assert np.median(cents(settled, f0 * ratio)) < 3.0
    assert np.median(cents([fr.f0_hz for fr in frames[5 : leap - 2]], f0)) < 3.0


def test_silence_and_noise_are_unvoiced() -> None:
    rate, hop = 48000, 480
    tracker = StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000, floor_db=-100)
    silent = track(tracker, np.zeros(rate // 2, np.float32), hop)
    assert not any(fr.voiced for fr in silent)
    assert all(fr.loudness_db == -100.0 for fr in silent)
    noise = 0.1 * np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    noisy = track(tracker, noise, hop)[5:]
    assert np.mean([fr.voiced for fr in noisy]) < 0.1


@pytest.mark.parametrize("f0, amp", [(110.0, 0.5), (440.0, 0.05), (1000.0, 0.3)])
def test_loudness_of_a_steady_tone_is_the_trainers(f0: float, amp: float) -> None:
    rate, hop = 48000, 480
    tone = amp * harmonic_tone(f0, 1.0, sample_rate=rate)
    frames = track(StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000), tone, hop)
    trainer = a_weighted_loudness(tone, sample_rate=rate, hop=hop)
    mid = slice(20, 80)
    streaming = np.array([fr.loudness_db for fr in frames])[mid]
    assert np.max(np.abs(streaming - trainer[1:][mid])) < 0.3


def test_the_trackers_look_only_at_the_past() -> None:
    """An onset at sample s: a frame ending before it reads silence, however loud the tone after
    it; a frame ending a loudness window later reads the tone's level."""
    rate = 48000
    tracker = StreamingTracker(rate, f0_min_hz=100, f0_max_hz=2000)
    tone = 0.5 * harmonic_tone(440.0, 0.5, sample_rate=rate)[rate // 50 :]  # starts at full level
    onset = 4800
    audio = np.r_[np.zeros(onset, np.float32), tone]
    tracker.push(audio[:onset])
    before = tracker.analyse()
    assert not before.voiced and before.loudness_db == tracker.floor_db
    tracker.push(audio[onset : onset + tracker.loud_n])
    after = tracker.analyse()
    steady = a_weighted_loudness(tone, sample_rate=rate, hop=480)[10]
    assert after.voiced and abs(after.loudness_db - steady) < 0.5
    assert tracker.pitch_delay_s < 0.012 and tracker.loudness_delay_s < 0.012  # 100 Hz low end


def test_pushing_in_any_chunks_gives_the_same_frames() -> None:
    rate = 48000
    tone = harmonic_tone(300.0, 0.3, sample_rate=rate, vibrato_cents=40)
    whole = StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000)
    whole.push(tone)
    pieces = StreamingTracker(rate, f0_min_hz=60, f0_max_hz=2000)
    for start in range(0, tone.shape[0], 77):
        pieces.push(tone[start : start + 77])
    assert whole.analyse() == pieces.analyse()


def test_the_bundled_flute_is_tracked_as_pyin_tracks_it(example_path) -> None:
    import librosa

    rate, hop = 48000, 480
    audio = load_audio(example_path, sample_rate=rate)
    tracker = StreamingTracker(rate, f0_min_hz=146, f0_max_hz=1185)
    frames = track(tracker, audio, hop)
    ref = load_audio(example_path, sample_rate=24000)
    f0, voiced, _ = librosa.pyin(
        ref, fmin=100, fmax=1500, sr=24000, frame_length=1024, hop_length=240
    )
    # Frame k ends at sample (k + 1) * hop: about centred frame k + 1 - delay / hop.
    lag = round(tracker.pitch_delay_s * rate / hop)
    ours = np.array([fr.f0_hz for fr in frames])
    ours_voiced = np.array([fr.voiced for fr in frames])
    k = np.arange(len(frames))
    j = k + 1 - lag
    ok = (j >= 0) & (j < f0.shape[0])
    both = ours_voiced[ok] & voiced[j[ok]]
    assert both.mean() > 0.8
    error = cents(ours[ok][both], f0[j[ok]][both])
    assert np.median(error) < 10.0  # pyin's own grid is 10 cents
    assert np.mean(error > 600) < 0.03  # octave errors
    agree = ours_voiced[ok] == voiced[j[ok]]
    assert agree.mean() > 0.9


@pytest.mark.parametrize(
    "low, high, words",
    [(10.0, 1000.0, "pitch range"), (500.0, 400.0, "pitch range"), (100.0, 20000.0, "pitch range")],
)
def test_a_bad_pitch_range_is_named(low: float, high: float, words: str) -> None:
    with pytest.raises(ParameterError, match=words):
        StreamingTracker(48000, f0_min_hz=low, f0_max_hz=high)
