"""Streaming synthesis in numpy: the engine's half of the signal model (controls -> audio).

Pure functions with explicit state. Control frame t sits at output sample `frame_position(t)`;
the samples of segment t (from frame t to frame t + 1) interpolate f0 and amplitudes linearly
between the two frames, as the training synth does. Phase is float64 and wrapped every segment;
sines are taken in float32. Harmonics at or above the output Nyquist are exactly zero.
"""

from __future__ import annotations

import math

import numpy as np

TWO_PI = 2.0 * math.pi


def frame_position(frame: int, *, out_rate: int, train_rate: int, hop: int) -> int:
    """Output sample at which control frame `frame` sits (exact integer arithmetic)."""
    return (frame * hop * out_rate) // train_rate


def harmonic_segment(
    f0_from: float,
    f0_to: float,
    amps_from: np.ndarray,
    amps_to: np.ndarray,
    n: int,
    *,
    sample_rate: int,
    phase: float,
) -> tuple[np.ndarray, float]:
    """One segment of the harmonic bank.

    f0_from, f0_to: Hz at frames t and t + 1. amps_from, amps_to: [K] linear amplitudes.
    n: samples in the segment. phase: fundamental phase (rad) at its first sample.
    Returns (audio [n] float32, phase after the segment, wrapped to [0, 2π)).
    """
    ramp = np.arange(n, dtype=np.float64) / n  # [n] position inside the segment
    f0 = f0_from + ramp * (f0_to - f0_from)  # [n] Hz
    step = f0 * (TWO_PI / sample_rate)  # [n] rad / sample
    cumulative = np.cumsum(step)
    phases = phase + cumulative - step  # [n] rad, phase at each sample
    # Only harmonics that sound somewhere in the segment: non-zero at either end and below the
    # output Nyquist for the lower f0 (a growing mask often leaves most of them at zero).
    sounding = np.flatnonzero((amps_from != 0) | (amps_to != 0))
    audible = int(np.ceil(sample_rate / 2 / max(min(f0_from, f0_to), 1e-3)))
    n_harm = min(int(sounding[-1]) + 1 if sounding.size else 0, audible)
    amps_from, amps_to = amps_from[:n_harm], amps_to[:n_harm]
    k = np.arange(1, n_harm + 1, dtype=np.float64)  # [K']
    harm_phase = np.mod(phases[:, None] * k, TWO_PI).astype(np.float32)  # [n, K] rad
    waves = np.sin(harm_phase)  # [n, K] float32
    waves[f0[:, None] * k >= sample_rate / 2] = 0.0  # silent at or above the output Nyquist
    a = amps_from.astype(np.float32)
    b = amps_to.astype(np.float32)
    r = ramp.astype(np.float32)
    audio = (waves @ a) * (1 - r) + (waves @ b) * r  # [n]
    return audio.astype(np.float32), float(np.mod(phase + cumulative[-1], TWO_PI))


class NoiseFilter:
    """Linear-phase, Hann-windowed FIR at the output rate from training-rate band magnitudes.

    The FIR keeps the training filter's frequency resolution: at the training rate it is the
    training synth's filter exactly (length 2B - 1); at other rates its length scales with the
    rate, and bands above the training Nyquist are zero. White noise of a fixed variance spreads
    its power over the whole output band, so at rate R its density is train_rate / R of the
    training one: the FIR carries sqrt(R / train_rate) so that the noise sounds as loud at every
    rate. The geometry (bin frequencies, window) is computed once; a call designs one frame's
    filter.
    """

    def __init__(self, n_bands: int, *, out_rate: int, train_rate: int) -> None:
        self.delay = round((n_bands - 1) * out_rate / train_rate)  # D, samples
        half = self.delay
        self.bins_hz = np.arange(half + 1) * (out_rate / 2) / half  # [D + 1]
        self.band_hz = np.arange(n_bands) * (train_rate / 2) / (n_bands - 1)  # [B]
        # The window, with the level correction for the output rate folded in.
        self.window = np.hanning(2 * half + 1) * math.sqrt(out_rate / train_rate)  # [2D + 1]

    def __call__(self, magnitudes: np.ndarray) -> np.ndarray:
        """magnitudes: [B] linear gains of bands evenly spaced from 0 Hz to the training
        Nyquist. Returns the FIR [2D + 1] float64, symmetric about its delay D."""
        half = self.delay
        gains = np.interp(self.bins_hz, self.band_hz, magnitudes, right=0.0)
        zero_phase = np.fft.irfft(gains, n=2 * half)  # [2D]
        ir = np.empty(2 * half + 1)
        ir[:half] = zero_phase[half:]
        ir[half:-1] = zero_phase[:half]
        ir[-1] = zero_phase[half]
        return ir * self.window


# Seeds the engine accepts: its streams are keyed seed, seed + 1 and seed + 2, and Philox keys
# are below 2**128; one signed 64-bit range is what a user, a log file and numpy all agree on.
SEED_RANGE = (0, 2**63 - 1)


def frame_generator(key: int, frame: int) -> np.random.Generator:
    """A random stream of its own for one control frame (counter-based: the same for the same
    (key, frame) whatever the order of calls).

    The frame goes into the second word of Philox's 256-bit counter, so frames are 2**64 draws
    apart. (With the frame as the counter itself, frame t + 1's stream was frame t's shifted by a
    few samples: the "white" noise repeated from frame to frame and coloured the noise branch.)
    """
    return np.random.Generator(np.random.Philox(key=key, counter=[0, frame, 0, 0]))


def frame_noise(seed: int, frame: int, n: int) -> np.ndarray:
    """White noise uniform in [-1, 1) for one control frame: [n] float32, the same for the same
    (seed, frame) whatever the block size or the order of calls."""
    generator = frame_generator(seed, frame)
    return (generator.random(n, dtype=np.float32) * 2.0 - 1.0).astype(np.float32)
