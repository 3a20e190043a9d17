"""Differentiable DDSP synthesis as pure functions over tensors.

Conventions: control frame t sits at sample t * hop; controls are interpolated linearly per sample
between frame t and t + 1 (the last frame is held). Shapes are written [batch, ...].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from trainer.harmonic_bank import compiled_bank_applies, harmonic_bank


def exp_sigmoid(
    x: torch.Tensor, *, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7
) -> torch.Tensor:
    """DDSP's positive output nonlinearity: max_value * sigmoid(x) ** ln(exponent) + threshold."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


def upsample_linear(frames: torch.Tensor, *, hop: int) -> torch.Tensor:
    """Per-sample linear interpolation of frame values.

    frames: [batch, T, channels]. Returns [batch, T * hop, channels]; sample t * hop + j is
    frames[t] + (j / hop) * (frames[t + 1] - frames[t]), with frames[T] = frames[T - 1].
    """
    nxt = torch.cat([frames[:, 1:], frames[:, -1:]], dim=1)  # [batch, T, channels]
    ramp = torch.arange(hop, device=frames.device, dtype=frames.dtype) / hop  # [hop]
    ramp = ramp[None, None, :, None]  # [1, 1, hop, 1]
    out = frames[:, :, None, :] + ramp * (nxt - frames)[:, :, None, :]  # [batch, T, hop, ch]
    return out.reshape(frames.shape[0], -1, frames.shape[2])


def harmonic_synth(
    f0_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    *,
    sample_rate: int,
    hop: int,
    initial_phase: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bank of K harmonic sinusoids at integer multiples of f0.

    f0_hz: [batch, T] fundamental (Hz). amplitudes: [batch, T, K] linear amplitude per harmonic.
    initial_phase: [batch] fundamental phase (rad) at sample 0, default 0.
    Returns (audio [batch, T * hop], final_phase [batch] rad in [0, 2π) after the last sample).
    Harmonic k (1-based) has phase k * phi where phi is the fundamental's phase, accumulated in
    float64 and wrapped mod 2π; any harmonic whose frequency is at or above Nyquist is exactly 0.

    Only the harmonics up to the highest one with a non-zero amplitude somewhere in the batch are
    computed (get_controls silences those above Nyquist and above the trained range, so on high
    instruments that is often fewer than K), and the per-sample Nyquist test only runs on the
    harmonics that some sample's pitch brings to Nyquist: the output and the gradients are the
    same as with all K, and a training step costs less.
    """
    batch, n_frames, _ = amplitudes.shape
    f0_up = upsample_linear(f0_hz[..., None], hop=hop)[..., 0]  # [batch, n] Hz
    step = f0_up.double() * (2 * math.pi / sample_rate)  # [batch, n] rad / sample
    if initial_phase is None:
        initial_phase = torch.zeros(batch, dtype=torch.float64, device=f0_hz.device)
    # phi[n] = phase at sample n: the phase before the first step is the initial phase.
    cumulative = torch.cumsum(step, dim=1) + initial_phase.double()[:, None]  # [batch, n] rad
    phase = torch.remainder(cumulative - step, 2 * math.pi)  # [batch, n] rad, wrapped
    final_phase = torch.remainder(cumulative[:, -1], 2 * math.pi)  # [batch] rad
    with torch.no_grad():
        sounding = torch.nonzero(amplitudes.detach().abs().amax(dim=(0, 1)))  # [S, 1]
        n_used = int(sounding.max()) + 1 if sounding.numel() else 1  # harmonics computed
        highest = highest_audible_harmonic(f0_up, sample_rate)  # [batch, n]
    if compiled_bank_applies(amplitudes):  # the same sum, compiled (trainer/harmonic_bank.py)
        return harmonic_bank(phase, highest, amplitudes[..., :n_used]), final_phase
    with torch.no_grad():
        k = torch.arange(1, n_used + 1, device=f0_hz.device, dtype=amplitudes.dtype)  # [k]
        # k * phi with phi wrapped to [0, 2π): at most 2πK rad, so float32 keeps it within
        # K * 2π * 6e-8 rad (2.4e-5 rad for K = 64, about -92 dB of phase noise).
        waves = phase.to(amplitudes.dtype)[..., None] * k  # [batch, n, k] rad
        waves.sin_()
        always = int(highest.min())  # harmonics 1..always are audible at every sample
        if always < n_used:
            upper = waves[..., always:]  # [batch, n, k - always] (a view)
            upper.masked_fill_(k[always:] > highest[..., None], 0.0)
        waves = waves.reshape(batch, n_frames, hop, n_used)  # [batch, T, hop, k]
    amplitudes = amplitudes[..., :n_used]  # [batch, T, k]: the rest are exactly zero
    # Linear amplitude interpolation inside frame t: (1 - r) * a[t] + r * a[t + 1], r = j / hop,
    # done as two batched matrix products instead of an [batch, n, K] product and sum.
    nxt = torch.cat([amplitudes[:, 1:], amplitudes[:, -1:]], dim=1)  # [batch, T, k]
    ramp = torch.arange(hop, device=f0_hz.device, dtype=amplitudes.dtype) / hop  # [hop]
    ends = torch.stack([amplitudes, nxt], dim=-1)  # [batch, T, K, 2]
    parts = torch.matmul(waves, ends)  # [batch, T, hop, 2]
    audio = (parts[..., 0] * (1 - ramp) + parts[..., 1] * ramp).reshape(batch, -1)  # [batch, n]
    return audio, final_phase


def highest_audible_harmonic(f0_hz: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Largest integer k with k * f0 < Nyquist, elementwise. f0_hz: [...] Hz -> [...] (float).

    The quotient is rounded and then corrected with exact products, so a harmonic that lands
    exactly on Nyquist counts as inaudible whatever the division's rounding.
    """
    nyquist = sample_rate / 2
    f0 = f0_hz.clamp_min(1e-3)
    k = torch.floor(nyquist / f0)
    k = k - (k * f0 >= nyquist).to(k.dtype)
    return k + ((k + 1) * f0 < nyquist).to(k.dtype)


def design_noise_filter(magnitudes: torch.Tensor) -> torch.Tensor:
    """Linear-phase, Hann-windowed FIR per frame from band magnitudes.

    magnitudes: [batch, T, B] linear gains of B bands spaced evenly from 0 Hz to Nyquist.
    Returns [batch, T, 2B - 1] causal impulse responses with a group delay of exactly B - 1 samples.
    """
    n_bands = magnitudes.shape[-1]
    half = n_bands - 1
    zero_phase = torch.fft.irfft(magnitudes.to(torch.complex64), n=2 * half)  # [b, T, 2B-2]
    # Rotate so the zero-phase centre lands on index B - 1, then repeat the first tap at the end
    # to make the response symmetric (odd length 2B - 1, exactly linear phase).
    centred = torch.roll(zero_phase, shifts=half, dims=-1)
    ir = torch.cat([centred, centred[..., :1]], dim=-1)  # [b, T, 2B - 1]
    window = torch.hann_window(2 * half + 1, periodic=False, device=ir.device, dtype=ir.dtype)
    return ir * window


def overlap_add(frames: torch.Tensor, *, hop: int) -> torch.Tensor:
    """Sum frames of length L placed every `hop` samples.

    frames: [batch, T, L]. Returns [batch, (T - 1) * hop + L].
    """
    batch, n_frames, length = frames.shape
    n_chunks = -(-length // hop)
    padded = F.pad(frames, (0, n_chunks * hop - length))  # [b, T, n_chunks * hop]
    chunks = padded.reshape(batch, n_frames, n_chunks, hop)
    out = frames.new_zeros(batch, n_frames + n_chunks - 1, hop)
    for j in range(n_chunks):
        out[:, j : j + n_frames] += chunks[:, :, j]
    return out.reshape(batch, -1)[:, : (n_frames - 1) * hop + length]


def filtered_noise(magnitudes: torch.Tensor, noise: torch.Tensor, *, hop: int) -> torch.Tensor:
    """White noise shaped per frame by band magnitudes, group delay removed.

    magnitudes: [batch, T, B] linear band gains. noise: [batch, T * hop] white noise (e.g. uniform
    in [-1, 1]). Each frame's hop samples are convolved (FFT) with that frame's FIR; the tails
    overlap-add into the following frames. Returns [batch, T * hop].
    """
    return _convolve_frames(design_noise_filter(magnitudes), noise, hop=hop)


def filtered_noise_power(magnitudes: torch.Tensor, *, hop: int, variance: float) -> torch.Tensor:
    """The expected square of each sample of `filtered_noise(magnitudes, noise)` over white noise
    of the given variance (uniform in [-1, 1]: 1/3): [batch, T * hop], exact, no noise drawn.

    Output sample i sums noise samples j times frame t(j)'s FIR at lag i - j; the draws are
    independent, so its variance is the variance times the sum over j of that coefficient
    squared: the same frame convolution with the squared FIRs, of a signal of ones.
    """
    ir = design_noise_filter(magnitudes)  # [b, T, L]
    ones = ir.new_ones(ir.shape[0], ir.shape[1] * hop)
    return variance * _convolve_frames(ir.square(), ones, hop=hop)


def _convolve_frames(ir: torch.Tensor, signal: torch.Tensor, *, hop: int) -> torch.Tensor:
    """Frame t's hop samples of signal [batch, T * hop] convolved (FFT) with ir [batch, T, L],
    the tails overlap-added into the following frames, the FIRs' group delay (L - 1) / 2
    removed: [batch, T * hop]."""
    batch, n_frames, ir_len = ir.shape
    n_fft = 1 << (hop + ir_len - 2).bit_length()
    frames = signal.reshape(batch, n_frames, hop)
    spectrum = torch.fft.rfft(frames, n=n_fft) * torch.fft.rfft(ir, n=n_fft)
    convolved = torch.fft.irfft(spectrum, n=n_fft)[..., : hop + ir_len - 1]  # [b, T, hop + L - 1]
    full = overlap_add(convolved, hop=hop)  # [b, T * hop + L - 1]
    delay = (ir_len - 1) // 2
    return full[:, delay : delay + n_frames * hop]


def fft_convolve(audio: torch.Tensor, impulse_response: torch.Tensor) -> torch.Tensor:
    """Linear convolution cropped to the input length. audio: [batch, n]; impulse_response: [L]."""
    n = audio.shape[-1]
    n_fft = 1 << (n + impulse_response.shape[-1] - 2).bit_length()
    spectrum = torch.fft.rfft(audio, n=n_fft) * torch.fft.rfft(impulse_response, n=n_fft)
    return torch.fft.irfft(spectrum, n=n_fft)[..., :n]


def nyquist_mask(f0_hz: torch.Tensor, n_harmonics: int, *, sample_rate: int) -> torch.Tensor:
    """1 where harmonic k * f0 is below Nyquist, else 0. f0_hz: [..., T] -> [..., T, K]."""
    k = torch.arange(1, n_harmonics + 1, device=f0_hz.device, dtype=f0_hz.dtype)
    return (f0_hz[..., None] * k < sample_rate / 2).to(f0_hz.dtype)
