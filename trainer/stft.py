"""The loss's STFT with a backward pass written out: half the FFT work of autograd's.

Forward: reflect-pad by n_fft / 2 on both sides, frames every `hop` samples, a Hann window,
rfft. Autograd's backward of rfft builds the whole conjugate-symmetric spectrum and runs a
complex-to-complex inverse FFT; here the same gradient comes from a complex-to-real one. For
real x and y_k = sum_m x_m e^(-2πi km/N), k = 0..N/2, the gradient (PyTorch's convention for a
complex output: grad_x = Re(Jᴴ grad_y)) is
    grad_x_m = Re sum_k grad_y_k e^(2πi km/N) = N * irfft(Z)_m,
with Z the gradient halved in bins 1..N/2 - 1 (irfft counts those twice and ignores the
imaginary parts of bins 0 and N/2, as the real part alone enters there). Then the window, the
frames' overlap-add and the padding's reflection, each by hand. tests/trainer/test_stft.py holds
it to autograd's gradient.
"""

from __future__ import annotations

import torch

from trainer.dsp import overlap_add


def windowed_frames(audio: torch.Tensor, window: torch.Tensor, hop: int) -> torch.Tensor:
    """audio [B, n] reflect-padded by len(window) // 2 on both sides, cut into frames every `hop`
    samples and windowed: [B, frames, len(window)]."""
    half = window.shape[0] // 2
    padded = torch.nn.functional.pad(audio[:, None], (half, half), mode="reflect")[:, 0]
    return padded.unfold(-1, window.shape[0], hop) * window


def stft_applies(audio: torch.Tensor) -> bool:
    """Whether `framed_rfft` takes this audio: a float32 CPU tensor that needs a gradient."""
    return (
        torch.is_grad_enabled()
        and audio.requires_grad
        and audio.device.type == "cpu"
        and audio.dtype == torch.float32
    )


class _FramedRfft(torch.autograd.Function):
    """audio [B, n] -> rfft of its windowed, reflect-padded frames [B, frames, n_fft // 2 + 1]."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        audio: torch.Tensor,
        window: torch.Tensor,
        hop: int,
    ) -> torch.Tensor:
        frames = windowed_frames(audio, window, hop)  # [B, frames, n_fft]
        ctx.save_for_backward(window)
        ctx.hop = hop  # type: ignore[attr-defined]
        ctx.n = audio.shape[1]  # type: ignore[attr-defined]
        return torch.fft.rfft(frames)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, None, None]:
        (window,) = ctx.saved_tensors  # type: ignore[attr-defined]
        hop, n = ctx.hop, ctx.n  # type: ignore[attr-defined]
        n_fft = window.shape[0]
        half = n_fft // 2
        z = grad.clone()
        z[..., 1:half] *= 0.5
        frames = torch.fft.irfft(z, n=n_fft) * (n_fft * window)  # [B, frames, n_fft]
        summed = overlap_add(frames, hop=hop)  # [B, (frames - 1) * hop + n_fft]
        padded = summed.new_zeros(summed.shape[0], n + 2 * half)
        padded[:, : summed.shape[1]] = summed[:, : n + 2 * half]
        audio = padded[:, half : half + n].clone()
        # padded[half - 1 - m] = audio[1 + m] and padded[half + n + m] = audio[n - 2 - m]
        audio[:, 1 : half + 1] += padded[:, :half].flip(-1)
        audio[:, n - 1 - half : n - 1] += padded[:, half + n :].flip(-1)
        return audio, None, None


def framed_rfft(audio: torch.Tensor, window: torch.Tensor, hop: int) -> torch.Tensor:
    """rfft of audio [B, n]'s frames (reflect padding of len(window) // 2 on both sides, every
    `hop` samples, times window): [B, frames, len(window) // 2 + 1] complex64, as
    torch.fft.rfft(padded.unfold(...) * window), with the backward pass above."""
    result: torch.Tensor = _FramedRfft.apply(audio, window, hop)
    return result
