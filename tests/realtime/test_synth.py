"""The compiled oscillator bank against a plain numpy one (sin of every harmonic's phase)."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ParameterError
from realtime.synth import TWO_PI, harmonic_segment


def numpy_bank(
    f0_from: float, f0_to: float, a: np.ndarray, b: np.ndarray, n: int, rate: int, phase: float
) -> tuple[np.ndarray, float]:
    """Reference: per-sample f0 and amplitude interpolation, float64 phase, np.sin per harmonic,
    silence at or above the output Nyquist."""
    ramp = np.arange(n) / n
    f0 = f0_from + ramp * (f0_to - f0_from)
    step = f0 * TWO_PI / rate
    phases = phase + np.cumsum(step) - step
    k = np.arange(1, a.shape[0] + 1)
    waves = np.sin(phases[:, None] * k)
    waves[f0[:, None] * k >= rate / 2] = 0.0
    amps = a[None, :] * (1 - ramp[:, None]) + b[None, :] * ramp[:, None]
    return (waves * amps).sum(axis=1), float(np.mod(phase + step.sum(), TWO_PI))


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
@pytest.mark.parametrize(
    ("f0_from", "f0_to"),
    [(220.0, 220.0), (110.0, 880.0), (1500.0, 1400.0), (700.0, 760.0), (27.5, 30.0)],
)
def test_bank_equals_numpy(rate: int, f0_from: float, f0_to: float) -> None:
    rng = np.random.default_rng(int(f0_from))
    a, b = rng.random(64), rng.random(64)
    a[40:], b[50:] = 0.0, 0.0  # the highest harmonics silent, as a growing mask leaves them
    n = 480 * rate // 48000
    phase = float(rng.random() * TWO_PI)
    got, got_phase = harmonic_segment(f0_from, f0_to, a, b, n, sample_rate=rate, phase=phase)
    want, want_phase = numpy_bank(f0_from, f0_to, a, b, n, rate, phase)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_allclose(got, want, atol=2e-6 * a.sum(), rtol=0)
    assert abs(got_phase - want_phase) < 1e-9


def test_nothing_sounds_at_or_above_the_output_nyquist() -> None:
    """A glide that takes harmonic 2 across Nyquist: it must vanish exactly where it crosses."""
    rate, n = 48000, 4800
    a = np.array([0.0, 1.0])  # only harmonic 2
    audio, _ = harmonic_segment(11000.0, 13000.0, a, a, n, sample_rate=rate, phase=0.0)
    f0 = 11000.0 + np.arange(n) / n * 2000.0
    above = 2 * f0 >= rate / 2
    assert above.any() and (~above).any()
    assert np.all(audio[above] == 0.0)
    assert np.abs(audio[~above]).max() > 0.5


def test_writes_into_the_buffer_it_is_given() -> None:
    buffer = np.full(1000, 7.0, np.float32)
    a = np.ones(8)
    audio, _ = harmonic_segment(220.0, 220.0, a, a, 480, sample_rate=48000, phase=0.0, out=buffer)
    assert np.shares_memory(audio, buffer) and audio.shape == (480,)
    assert np.all(buffer[480:] == 7.0)
    silent, phase = harmonic_segment(
        220.0, 220.0, np.zeros(8), np.zeros(8), 480, sample_rate=48000, phase=1.0
    )
    assert (
        np.all(silent == 0.0)
        and abs(phase - np.mod(1.0 + 480 * 220 * TWO_PI / 48000, TWO_PI)) < 1e-9
    )


def test_bad_pitch_or_buffer_is_named() -> None:
    a = np.ones(4)
    for f0 in (float("nan"), 0.0, -5.0):
        with pytest.raises(ParameterError, match="must be positive and finite"):
            harmonic_segment(f0, 220.0, a, a, 48, sample_rate=48000, phase=0.0)
    for out in (np.empty(10, np.float32), np.empty(100), np.empty((2, 100), np.float32)):
        with pytest.raises(ParameterError, match="contiguous float32 buffer of at least 48"):
            harmonic_segment(220.0, 220.0, a, a, 48, sample_rate=48000, phase=0.0, out=out)
