"""Streaming pitch and loudness trackers: what effect mode (and `grow-render --input --tracker
streaming`) plays from, one control frame at a time, from the input received so far.

Causal by construction: `analyse()` looks only at samples already pushed, so a frame's values
describe the past. How far back is the trackers' delay: half the span each one reads
(`pitch_delay_s`, `loudness_delay_s`), part of the latency effect mode reports.

- Pitch: YIN (de Cheveigné and Kawahara, 2002). The difference function d(tau) over an
  integration window of one longest period, from one FFT cross-correlation and a cumulative sum
  of energies; the cumulative-mean-normalised d'(tau); the first dip below `threshold` (the
  smallest lag, so the fundamental rather than a sub-harmonic); parabolic interpolation. Voiced
  when that dip exists and the level is above the floor. Octave guard: a jump of about an octave
  from the last voiced pitch is taken only once it has held `OCTAVE_HOLD_FRAMES` frames, or at
  once when d' at the old period no longer dips below the threshold (the note really changed).
  An unvoiced frame keeps the last voiced pitch, as the trainer fills unvoiced frames from their
  neighbours.
- Loudness: the trainer's definition (core.features.a_weighted_loudness: A-weighted,
  Hann-window-weighted mean square, dB re full scale), over a window that ends at the newest
  sample and spans two longest periods (at least LOUDNESS_MIN_S), where the trainer's is ~40 ms
  and centred on the frame. On a steady tone the two read the same level: a periodic signal's
  power ripples at multiples of f0, which a Hann window of two periods or more rejects (its
  transform is zero at 2/L, 3/L, ...). At an onset the streaming one rises within its window
  instead of ramping up before the note, as a centred window does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import ParameterError
from core.features import hann_window, loudness_weights

YIN_THRESHOLD = 0.2  # d' below this at the chosen lag: voiced (de Cheveigné: 0.1-0.2)
OCTAVE_HOLD_FRAMES = 3  # frames an octave jump must persist before it is believed
LOUDNESS_MIN_S = 0.01
MIN_F0_HZ, MAX_F0_HZ = 30.0, 4000.0


@dataclass(frozen=True)
class TrackedFrame:
    f0_hz: float  # the last voiced pitch when unvoiced
    voiced: bool
    loudness_db: float  # A-weighted, dB re full scale, >= the floor
    periodicity: float  # 1 - d' at the chosen lag (1 = perfectly periodic)


class StreamingTracker:
    """f0, voicing and A-weighted loudness of a mono stream at `sample_rate`, on demand."""

    def __init__(
        self,
        sample_rate: int,
        *,
        f0_min_hz: float,
        f0_max_hz: float,
        threshold: float = YIN_THRESHOLD,
        floor_db: float = -100.0,
    ) -> None:
        if not MIN_F0_HZ <= f0_min_hz < f0_max_hz <= min(MAX_F0_HZ, sample_rate / 4):
            raise ParameterError(
                f"pitch range {f0_min_hz:g}..{f0_max_hz:g} Hz must satisfy {MIN_F0_HZ:g} <= low "
                f"< high <= {min(MAX_F0_HZ, sample_rate / 4):g} Hz at {sample_rate} Hz"
            )
        if not 0 < threshold < 1:
            raise ParameterError(f"threshold={threshold} must be in (0, 1)")
        self.sample_rate = sample_rate
        self.f0_min_hz, self.f0_max_hz = float(f0_min_hz), float(f0_max_hz)
        self.threshold = threshold
        self.floor_db = floor_db
        self.lag_min = max(2, math.floor(sample_rate / f0_max_hz))
        self.lag_max = math.ceil(sample_rate / f0_min_hz)  # tau_max, samples
        self.window = self.lag_max  # YIN's integration window: one longest period
        self.pitch_span = self.window + self.lag_max + 1  # samples d(tau) reads
        self.n_fft = 1 << (self.pitch_span - 1).bit_length()
        self.loud_n = 2 * max(self.lag_max, round(LOUDNESS_MIN_S * sample_rate / 2))
        self.loud_window = hann_window(self.loud_n)
        self.loud_weights = loudness_weights(sample_rate, self.loud_n)
        self.history = np.zeros(max(self.pitch_span, self.loud_n))  # newest sample last
        self.f0_hz = math.sqrt(f0_min_hz * f0_max_hz)  # until the first voiced frame
        self._octave_frames = 0  # consecutive frames that disagreed by an octave
        self._last_cmnd = np.ones(self.lag_max + 1)  # d' of the last voiced analysis

    @property
    def pitch_delay_s(self) -> float:
        """How far behind the newest sample the pitch describes: half the span YIN reads."""
        return self.pitch_span / 2 / self.sample_rate

    @property
    def loudness_delay_s(self) -> float:
        return self.loud_n / 2 / self.sample_rate

    def push(self, samples: np.ndarray) -> None:
        """Append samples [n] (any float dtype) to the history."""
        n, h = samples.shape[0], self.history
        if n >= h.shape[0]:
            h[:] = samples[n - h.shape[0] :]
        elif n:
            h[:-n] = h[n:]
            h[-n:] = samples

    def analyse(self) -> TrackedFrame:
        """The frame that ends at the newest sample pushed."""
        loudness = self._loudness()
        lag, aperiodicity = self._yin()
        voiced = lag > 0 and loudness > self.floor_db + 1.0
        if voiced:
            self.f0_hz = self._guard_octave(self.sample_rate / lag)
        return TrackedFrame(self.f0_hz, voiced, loudness, 1.0 - aperiodicity)

    def _loudness(self) -> float:
        segment = self.history[-self.loud_n :] * self.loud_window
        power = np.abs(np.fft.rfft(segment)) ** 2
        mean_square = float(self.loud_weights @ power)
        return 10.0 * math.log10(max(mean_square, 10.0 ** (self.floor_db / 10.0)))

    def _cmnd(self, x: np.ndarray) -> np.ndarray:
        """YIN's cumulative-mean-normalised difference d'[tau], tau = 0..lag_max, of x [span]."""
        w, top = self.window, self.lag_max
        spectrum = np.fft.rfft(x, self.n_fft)
        head = np.fft.rfft(x[:w], self.n_fft)
        corr = np.fft.irfft(np.conj(head) * spectrum, self.n_fft)[: top + 1]  # r(tau)
        energy = np.concatenate(([0.0], np.cumsum(x * x)))  # energy[k] = sum x[:k]^2
        lags = np.arange(top + 1)
        diff = energy[w] + energy[lags + w] - energy[lags] - 2.0 * corr  # d(tau) >= 0
        diff = np.maximum(diff, 0.0)
        running = np.cumsum(diff[1:])
        cmnd = np.ones(top + 1)
        safe = running > 1e-12 * max(energy[-1], 1e-30)
        cmnd[1:] = np.where(safe, diff[1:] * lags[1:] / np.where(safe, running, 1.0), 1.0)
        return cmnd

    def _yin(self) -> tuple[float, float]:
        """(lag in samples, fractional; 0 when unvoiced, aperiodicity d' at it)."""
        x = self.history[-self.pitch_span :]
        if float(x @ x) < 1e-14 * x.shape[0]:  # digital silence: no period to find
            return 0.0, 1.0
        d = self._last_cmnd = self._cmnd(x)
        below = np.flatnonzero(d[self.lag_min : self.lag_max] < self.threshold)
        if below.size == 0:
            return 0.0, float(d[self.lag_min :].min())
        tau = self._descend(d, self.lag_min + int(below[0]))
        return self._refine(d, tau), float(d[tau])

    def _descend(self, d: np.ndarray, tau: int) -> int:
        """Walk from tau down to the bottom of its dip."""
        while tau + 1 < self.lag_max and d[tau + 1] < d[tau]:
            tau += 1
        return tau

    def _refine(self, d: np.ndarray, tau: int) -> float:
        """Parabolic interpolation of the dip at integer lag tau."""
        if tau <= 1 or tau >= self.lag_max:
            return float(tau)
        a, b, c = d[tau - 1], d[tau], d[tau + 1]
        curvature = a - 2.0 * b + c
        shift = 0.5 * (a - c) / curvature if curvature > 0 else 0.0
        return tau + float(np.clip(shift, -0.5, 0.5))

    def _guard_octave(self, f0_hz: float) -> float:
        """f0_hz, unless it is an octave from the last voiced pitch and the old period still
        fits (d' dips below the threshold there), for fewer than OCTAVE_HOLD_FRAMES frames."""
        jump = abs(math.log2(f0_hz / self.f0_hz))
        if abs(jump - 1.0) > 0.1:
            self._octave_frames = 0
            return f0_hz
        self._octave_frames += 1
        old_lag = self.sample_rate / self.f0_hz
        low, high = int(old_lag * 0.94), math.ceil(old_lag * 1.06)
        held = self._octave_frames >= OCTAVE_HOLD_FRAMES
        if held or not self.lag_min <= low < high < self.lag_max:
            self._octave_frames = 0
            return f0_hz
        d = self._last_cmnd
        tau = low + int(np.argmin(d[low : high + 1]))
        if d[tau] >= self.threshold:
            self._octave_frames = 0
            return f0_hz
        return self.sample_rate / self._refine(d, tau)
