"""The learned reverb in the engine: uniformly partitioned overlap-add convolution (UPOLS).

The model's impulse response h (training rate, h[0] = 0: no wet signal at lag 0) is resampled
once to the output rate, cut into partitions of P samples (P = one control-frame segment) and
transformed (FFT size 2P). Each segment x of P samples is transformed once into a frequency-domain
delay line; the wet segment is the inverse transform of sum_j X[i - j] H[j] plus the tail of the
previous one. Output = x + wet, exactly x + (x * h) truncated to the segment, as the training synth
computes it. Cost per segment: two FFTs of 2P and J = len(h) / P complex multiply-adds of P + 1.
"""

from __future__ import annotations

import numpy as np


def resample_ir(ir: np.ndarray, *, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling of an impulse response (zero-padded spectrum), scaled so that the
    wet gain is the same at both rates: [round(len * to / from)] float64."""
    if from_rate == to_rate:
        return np.asarray(ir, np.float64)
    n_out = round(len(ir) * to_rate / from_rate)
    spectrum = np.fft.rfft(np.asarray(ir, np.float64))
    return np.fft.irfft(spectrum, n=n_out)  # irfft's 1/n keeps the sum of taps' gain


class PartitionedReverb:
    """State of the convolution for one voice. ir: [L] float at the output rate; P: segment."""

    def __init__(self, ir: np.ndarray, *, partition: int) -> None:
        p = partition
        n_parts = max(1, -(-len(ir) // p))
        padded = np.zeros(n_parts * p)
        padded[: len(ir)] = ir
        self.partition = p
        self.parts = np.fft.rfft(padded.reshape(n_parts, p), n=2 * p, axis=1)  # [J, P + 1]
        self.delay_line = np.zeros_like(self.parts)  # [J, P + 1], newest at `self.newest`
        self.newest = 0
        self.tail = np.zeros(p)  # second half of the last inverse transform

    def process(self, dry: np.ndarray) -> np.ndarray:
        """dry: [P] float segment. Returns dry + wet, float64 [P]."""
        p, n_parts = self.partition, self.parts.shape[0]
        if dry.shape[0] != p:
            raise ValueError(f"segment of {dry.shape[0]} samples; the reverb runs on {p}")
        self.newest = (self.newest + 1) % n_parts
        self.delay_line[self.newest] = np.fft.rfft(dry, n=2 * p)
        order = (self.newest - np.arange(n_parts)) % n_parts  # X[i], X[i - 1], ...
        spectrum = np.einsum("jk,jk->k", self.delay_line[order], self.parts)
        block = np.fft.irfft(spectrum, n=2 * p)  # [2P]
        wet = block[:p] + self.tail
        self.tail = block[p:]
        return dry + wet
