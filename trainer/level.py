"""The A-weighted level of the synth's controls, computed from the controls themselves.

`core.features.a_weighted_loudness` measures a frame's level as its A-weighted mean square.
For the synth's two parts that mean square is known before any audio exists:

- harmonic k with amplitude a_k at k * f0 contributes a_k² / 2 * W(k * f0);
- the filtered noise (white, uniform in [-1, 1], so of variance 1/3, through the FIR that
  `trainer.dsp.design_noise_filter` makes from the band gains m) contributes
  1/3 * mean over frequency of W(f) |H(f)|². The FIR is linear in m, so that is the quadratic
  form m Q mᵀ with a constant [B, B] matrix Q (`noise_gram`), exact for any band gains;

where W is the A-weighting as a power gain. A model whose level follows its loudness input scales
its controls by sqrt(10^(loudness / 10) / that mean square), so that the loudness a musician plays
(or sends) is the loudness that sounds, whatever the pitch or the timbre, also for pitches and
dynamics the training data never had.
"""

from __future__ import annotations

import torch

from trainer.dsp import design_noise_filter

# IEC 61672 A-weighting pole frequencies (Hz), as librosa.A_weighting uses them.
_F1, _F2, _F3, _F4 = 20.598997, 107.65265, 737.86223, 12194.217
_GAIN_AT_1KHZ = 10.0 ** (2.0 / 10.0)  # the +2.00 dB that makes W(1 kHz) = 1
NOISE_VARIANCE = 1.0 / 3.0  # uniform white noise in [-1, 1]


def a_weighting_power(freq_hz: torch.Tensor) -> torch.Tensor:
    """A-weighting as a power gain (1 at 1 kHz, 0 at 0 Hz), any shape, same shape out."""
    f2 = freq_hz.square()
    amplitude = (
        (f2 / (f2 + _F1**2))
        * (f2 / torch.sqrt((f2 + _F2**2) * (f2 + _F3**2)))
        * (_F4**2 / (f2 + _F4**2))
    )  # written as a product of ratios: f⁴ would overflow float32 in the direct formula
    return _GAIN_AT_1KHZ * amplitude.square()


def noise_gram(n_bands: int, *, sample_rate: int, n_fft: int = 4096) -> torch.Tensor:
    """Q [B, B] float32: the A-weighted mean square of the filtered noise is m Q mᵀ for band gains
    m [B] (the noise's variance included). Constant for a model; computed once, outside any graph.

    With R_b the spectrum of band b's FIR alone and c_f the one-sided bin weights (Parseval),
    Q[b, b'] = 1/3 * 1/n_fft * sum_f c_f W(f) Re(R_b(f) conj(R_b'(f))).
    """
    with torch.no_grad():
        unit_firs = design_noise_filter(torch.eye(n_bands)[None])[0].double()  # [B, 2B - 1]
        spectra = torch.fft.rfft(unit_firs, n=n_fft)  # [B, F] complex
        freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate, dtype=torch.float64)
        bins = torch.full_like(freqs, 2.0)
        bins[0] = bins[-1] = 1.0  # 0 Hz and Nyquist appear once in the full spectrum
        weighted = spectra * (bins * a_weighting_power(freqs) * NOISE_VARIANCE / n_fft)
        gram = (weighted @ spectra.conj().T).real  # [B, B]
    return gram.float()


def controls_mean_square(
    harmonic_amps: torch.Tensor,
    f0_hz: torch.Tensor,
    noise_mags: torch.Tensor,
    *,
    sample_rate: int,
    noise_gram: torch.Tensor,
) -> torch.Tensor:
    """A-weighted mean square per frame of what the synth plays from these controls.

    harmonic_amps: [batch, T, K] linear amplitudes (zero above Nyquist); f0_hz: [batch, T] Hz;
    noise_mags: [batch, T, B] linear band gains; noise_gram: [B, B] from `noise_gram`. Returns
    [batch, T] (linear; 10 log10 of it is the level in dB that `a_weighted_loudness` reads in a
    steady frame).
    """
    n_harmonics = harmonic_amps.shape[-1]
    k = torch.arange(1, n_harmonics + 1, device=f0_hz.device, dtype=f0_hz.dtype)
    harmonic_weight = a_weighting_power(f0_hz[..., None] * k)  # [batch, T, K]
    harmonic = 0.5 * (harmonic_amps.square() * harmonic_weight).sum(dim=-1)  # [batch, T]
    noise = ((noise_mags @ noise_gram) * noise_mags).sum(dim=-1)  # [batch, T]
    return harmonic + noise


def gain_to_loudness(
    mean_square: torch.Tensor, loudness_db: torch.Tensor, *, floor: float = 1e-12
) -> torch.Tensor:
    """Linear gain [batch, T] that brings frames of A-weighted `mean_square` [batch, T] to
    `loudness_db` [batch, T] (dB re full scale)."""
    target = torch.pow(10.0, loudness_db / 10.0)
    return torch.sqrt(target / (mean_square + floor))
