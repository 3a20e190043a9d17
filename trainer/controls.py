"""The mapping between physical units and network space (magenta's `get_controls` half).

Inputs: f0 in Hz and loudness in dB are scaled for the network. Outputs: raw network values become
physical synthesizer controls: harmonic amplitudes (linear) and noise band magnitudes (linear).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer.dsp import exp_sigmoid, nyquist_mask
from trainer.level import controls_mean_square, gain_to_loudness


def scale_f0(f0_hz: torch.Tensor) -> torch.Tensor:
    """Hz -> MIDI note / 127 (about 0.2..0.9 for musical pitches)."""
    midi = 69.0 + 12.0 * torch.log2(f0_hz.clamp_min(1.0) / 440.0)
    return midi / 127.0


def scale_loudness(loudness_db: torch.Tensor, *, mean: float, std: float) -> torch.Tensor:
    """dB -> zero mean, unit variance over the training data."""
    return (loudness_db - mean) / std


@dataclass
class Controls:
    """Physical synthesizer controls for T frames."""

    amplitude: torch.Tensor  # [batch, T] overall harmonic amplitude (linear)
    distribution: torch.Tensor  # [batch, T, K] harmonic distribution, sums to 1 (or all 0)
    harmonic_amps: torch.Tensor  # [batch, T, K] amplitude * distribution (linear)
    noise_mags: torch.Tensor  # [batch, T, B] noise band magnitudes (linear)


def normalized(weights: torch.Tensor) -> torch.Tensor:
    """[..., K] non-negative -> the same divided by its sum over K (all 0 stays 0)."""
    return weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-7)


def get_controls(
    raw: torch.Tensor,
    f0_hz: torch.Tensor,
    *,
    n_harmonics: int,
    sample_rate: int,
    mask: torch.Tensor | None = None,
    trained_harmonics: int | None = None,
    level: torch.Tensor | None = None,
    loudness_db: torch.Tensor | None = None,
    noise_gram: torch.Tensor | None = None,
) -> Controls:
    """raw: [batch, T, 1 + K + B] decoder output; f0_hz: [batch, T]; mask: [batch or 1, K] or
    [batch, T, K] in [0, 1] (the NCA's harmonic mask), applied before the distribution is
    normalised. trained_harmonics: harmonics above it are silent (never made audible by the
    training data; default: all K). level: [batch, T] linear gain on the harmonic amplitude and
    the noise bands (the model's level below its trained loudness), or None. loudness_db:
    [batch, T] dB, or None: when given, the harmonic amplitude and the noise bands are scaled
    together so that the frame's A-weighted level is loudness_db (trainer/level.py); the network
    then sets the timbre (the distribution, the noise bands, their balance) and the input sets the
    level. The scale is taken before the NCA mask, so growth shapes the timbre as without it.
    noise_gram: [B, B] (trainer.level.noise_gram), needed with loudness_db.

    a[t, k] = g[t] * A[t] * normalize(c[t, k] * mask[k] * [k * f0 < nyquist] * [k <= trained]).
    """
    amplitude = exp_sigmoid(raw[..., 0])  # [batch, T]
    weights = exp_sigmoid(raw[..., 1 : 1 + n_harmonics])  # [batch, T, K]
    weights = weights * nyquist_mask(f0_hz, n_harmonics, sample_rate=sample_rate)
    if trained_harmonics is not None and trained_harmonics < n_harmonics:
        weights = weights * (torch.arange(n_harmonics, device=raw.device) < trained_harmonics)
    noise_mags = exp_sigmoid(raw[..., 1 + n_harmonics :])  # [batch, T, B]
    distribution = normalized(weights)  # [batch, T, K], before the NCA mask
    if loudness_db is not None:
        if noise_gram is None:
            raise ValueError("get_controls: loudness_db needs noise_gram")
        unmasked = amplitude[..., None] * distribution  # [batch, T, K]
        mean_square = controls_mean_square(
            unmasked, f0_hz, noise_mags, sample_rate=sample_rate, noise_gram=noise_gram
        )
        gain = gain_to_loudness(mean_square, loudness_db)  # [batch, T]
        amplitude = amplitude * gain
        noise_mags = noise_mags * gain[..., None]
    if mask is not None:
        weights = weights * (mask[:, None, :] if mask.dim() == 2 else mask)
        distribution = normalized(weights)
    if level is not None:
        amplitude = amplitude * level
        noise_mags = noise_mags * level[..., None]
    return Controls(
        amplitude=amplitude,
        distribution=distribution,
        harmonic_amps=amplitude[..., None] * distribution,
        noise_mags=noise_mags,
    )
