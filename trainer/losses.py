"""Multi-scale spectral loss (DDSP), with an optional time-domain L1 term."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def magnitude_spectrogram(
    audio: torch.Tensor, *, n_fft: int, overlap: float = 0.75
) -> torch.Tensor:
    """|STFT| with a Hann window. audio: [batch, n] -> [batch, n_fft // 2 + 1, frames]."""
    hop = max(1, int(n_fft * (1.0 - overlap)))
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(audio, n_fft, hop_length=hop, window=window, center=True, return_complex=True)
    return spec.abs()


def multiscale_spectral_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    fft_sizes: Sequence[int],
    log_weight: float = 1.0,
    time_l1_weight: float = 0.0,
    eps: float = 1e-5,
    per_item: bool = False,
) -> torch.Tensor:
    """Sum over FFT sizes of mean |S - Ŝ| + log_weight * mean |log S - log Ŝ|.

    pred, target: [batch, n] audio. Returns a scalar, or [batch] with per_item=True (the mean of
    those is the scalar). With time_l1_weight > 0 a waveform L1 term is added (it needs
    phase-coherent synthesis to help, as in the seeds).
    """
    loss = pred.new_zeros(pred.shape[0])
    for n_fft in fft_sizes:
        s_pred = magnitude_spectrogram(pred, n_fft=n_fft)
        s_true = magnitude_spectrogram(target, n_fft=n_fft)
        loss = loss + (s_pred - s_true).abs().mean(dim=(1, 2))
        if log_weight > 0:
            log_diff = torch.log(s_pred + eps) - torch.log(s_true + eps)
            loss = loss + log_weight * log_diff.abs().mean(dim=(1, 2))
    if time_l1_weight > 0:
        loss = loss + time_l1_weight * (pred - target).abs().mean(dim=1)
    return loss if per_item else loss.mean()
