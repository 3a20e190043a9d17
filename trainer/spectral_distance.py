"""One scale of the multi-scale loss: mean |S - Ŝ| + w * mean |log(S + eps) - log(Ŝ + eps)|.

S = |X| is the predicted STFT's magnitude, Ŝ the target's. On the CPU (float32, gradients on)
the magnitude, both L1 terms and the gradient with respect to X come from one compiled pass
(numba, one batch item per core) over the spectrogram, instead of the dozen tensor passes
autograd records for the same formula (complex abs, log, differences, their backward): the loss
was half a training step.
Elsewhere (CUDA, float64, no gradient) the formula runs as tensor operations. Both give the same
value and gradient (tests/trainer/test_spectral_distance.py).

The gradient follows PyTorch's convention for complex inputs (that of X.abs(): g * X / |X|, and
0 where X = 0).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from trainer.compiled_threads import follow_torch_threads

# Reassociation and contraction, but not "no NaN / no inf": a NaN that reaches a loop must come
# out as NaN (the trainer's non-finite guard then skips that step). error_model="numpy":
# division follows IEEE, without Python's zero checks (which fastmath turns against NaN).
# Written out in each kernel's own file: numba's cache is keyed on that file's source.
FAST_MATH = {"nsz", "arcp", "contract", "reassoc"}


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy", parallel=True)
def _distance_and_gradient(
    spec: np.ndarray,
    target: np.ndarray,
    log_weight: float,
    eps: float,
    loss: np.ndarray,
    grad: np.ndarray,
) -> None:
    """spec, target: [B, M, 2] (re, im) predicted and target bins. Writes loss [B] and
    grad [B, M, 2], the loss's gradient with respect to spec."""
    batch, n_bins, _ = target.shape
    w = np.float32(log_weight)
    e = np.float32(eps)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    scale = np.float32(1.0 / n_bins)
    for b in numba.prange(batch):  # the items on the cores: each writes only its own
        lin = 0.0
        log = 0.0
        for m in range(n_bins):
            re = spec[b, m, 0]
            im = spec[b, m, 1]
            # |X| in float64: re² + im² underflows in float32 below |X| ~ 1e-19.
            s = np.float32(np.sqrt(np.float64(re) * re + np.float64(im) * im))
            t = np.sqrt(target[b, m, 0] * target[b, m, 0] + target[b, m, 1] * target[b, m, 1])
            d = s - t
            lin += abs(d)
            log += abs(np.log((s + e) / (t + e)))
            # log is increasing, so the log term's sign is d's: its derivative needs no log.
            # dL/dS = sign(d) (1 + w / (S + eps)) / M, and dS/dX = X / S (0 at X = 0).
            h = zero
            if s > zero:
                h = np.sign(d) * (one + w / (s + e)) * scale / s
            grad[b, m, 0] = re * h
            grad[b, m, 1] = im * h
        loss[b] = (lin + log_weight * log) / n_bins


def _bins(spec: torch.Tensor) -> np.ndarray:
    """[B, F, T] complex64 -> [B, M, 2] float32 view in the STFT's own memory order ([B, T, F]
    contiguous, so nothing is copied)."""
    return (
        torch.view_as_real(spec.detach().transpose(1, 2).contiguous())
        .reshape(spec.shape[0], -1, 2)
        .numpy()
    )


class _FastDistance(torch.autograd.Function):
    """(spec, target [B, F, T] complex64) -> per-item loss [B]; gradient for spec only."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        spec: torch.Tensor,
        target: torch.Tensor,
        log_weight: float,
        eps: float,
    ) -> torch.Tensor:
        batch, n_freq, n_frames = spec.shape
        bins = _bins(spec)
        loss = np.empty(batch, np.float32)
        grad = np.empty(bins.shape, np.float32)
        follow_torch_threads()
        _distance_and_gradient(bins, _bins(target), log_weight, eps, loss, grad)
        ctx.grad = torch.view_as_complex(  # type: ignore[attr-defined]
            torch.from_numpy(grad).reshape(batch, n_frames, n_freq, 2)
        ).transpose(1, 2)  # [B, F, T]
        return torch.from_numpy(loss)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the pass has no graph of its own
    def backward(
        ctx: torch.autograd.function.FunctionCtx, d_loss: torch.Tensor
    ) -> tuple[torch.Tensor, None, None, None]:
        grad = ctx.grad  # type: ignore[attr-defined]
        return grad * d_loss[:, None, None], None, None, None


def spectral_distance(
    spec: torch.Tensor, target: torch.Tensor, *, log_weight: float, eps: float
) -> torch.Tensor:
    """spec, target: [B, F, T] complex STFTs of the prediction and the target (the target gets
    no gradient). Returns the per-item distance [B]: mean over bins of |S - Ŝ| plus log_weight
    times mean |log(S + eps) - log(Ŝ + eps)|."""
    target = target.detach()
    fast = (
        torch.is_grad_enabled()
        and spec.requires_grad
        and spec.device.type == "cpu"
        and spec.dtype == target.dtype == torch.complex64
        and spec.shape == target.shape
    )
    if fast:
        result: torch.Tensor = _FastDistance.apply(spec, target, log_weight, eps)
        return result
    magnitude, target_magnitude = spec.abs(), target.abs()
    distance = (magnitude - target_magnitude).abs().mean(dim=(1, 2))
    if log_weight > 0:
        log_diff = torch.log(magnitude + eps) - torch.log(target_magnitude + eps)
        distance = distance + log_weight * log_diff.abs().mean(dim=(1, 2))
    return distance
