"""The harmonic oscillator bank's sum and its gradient, compiled for the CPU.

audio[n] = sum over k of a_k(n) * sin(k * phi[n]), with a_k(n) the amplitudes interpolated
linearly inside each frame and harmonic k silent where k > highest[n] (at or above Nyquist).
`trainer.dsp.harmonic_synth` writes the same sum as tensor operations: a [batch, n, K] array of
sines (one `sin` per sample and harmonic) and two batched matrix products, then their backward.
Here sin(k * phi) comes from the recurrence s_(k+1) = 2 cos(phi) s_k - s_(k-1) in float64 (its
error grows by about k * 2e-16, against float32's 6e-8 in the tensor path), harmonic by harmonic
over the samples of one frame at a time, one batch item per core. The gradient with
respect to the amplitudes is the same recurrence again; nothing of size [batch, n, K] is stored.
The gradient does not reach f0 or the phase (neither does the tensor path's).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from trainer.compiled_threads import follow_torch_threads

# Reassociation and contraction, but not "no NaN / no inf": a NaN amplitude must come out as
# NaN (the trainer's non-finite guard then skips that step). Written out in each kernel's own
# file: numba's cache is keyed on that file's source.
FAST_MATH = {"nsz", "arcp", "contract", "reassoc"}


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def _start_frame(
    sin1: np.ndarray, highest: np.ndarray, b: int, first: int, s_prev: np.ndarray, s_cur: np.ndarray
) -> int:
    """Set the recurrence to harmonic 1 for the `hop` samples from `first` of item b (s_prev =
    sin(0), s_cur = sin(phi)); returns the highest harmonic any of them plays."""
    top = 0
    for j in range(s_cur.shape[0]):
        s_prev[j] = 0.0
        s_cur[j] = sin1[b, first + j]
        top = max(top, highest[b, first + j])
    return top


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy", parallel=True)
def _bank_forward(
    sin1: np.ndarray, cos1: np.ndarray, highest: np.ndarray, amps: np.ndarray, out: np.ndarray
) -> None:
    """sin1, cos1: [B, n] float64 sin and cos of the fundamental's phase; highest: [B, n] int32
    (harmonics above it are silent); amps: [B, T, K] float32 (K harmonics summed; frame T - 1 is
    held); writes out [B, n] float32, n = T * hop."""
    batch, n_frames, n_harm = amps.shape
    hop = out.shape[1] // n_frames
    ramp = np.arange(hop) / hop
    for b in numba.prange(batch):
        s_prev = np.empty(hop)
        s_cur = np.empty(hop)
        acc = np.empty(hop)
        for t in range(n_frames):
            first = t * hop
            nxt = min(t + 1, n_frames - 1)
            top = _start_frame(sin1, highest, b, first, s_prev, s_cur)
            acc[:] = 0.0
            for k in range(min(top, n_harm)):
                a0 = np.float64(amps[b, t, k])
                da = np.float64(amps[b, nxt, k]) - a0
                for j in range(hop):
                    s = s_cur[j]
                    if k < highest[b, first + j]:
                        acc[j] += (a0 + ramp[j] * da) * s
                    s_cur[j] = 2.0 * cos1[b, first + j] * s - s_prev[j]
                    s_prev[j] = s
            for j in range(hop):
                out[b, first + j] = np.float32(acc[j])


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy", parallel=True)
def _bank_backward(
    sin1: np.ndarray,
    cos1: np.ndarray,
    highest: np.ndarray,
    grad_out: np.ndarray,
    grad_amps: np.ndarray,
) -> None:
    """The gradient of sum(grad_out * out) with respect to amps, for _bank_forward's inputs:
    grad_out [B, n] float32; writes grad_amps [B, T, K] float32."""
    batch, n_frames, n_harm = grad_amps.shape
    hop = grad_out.shape[1] // n_frames
    ramp = np.arange(hop) / hop
    for b in numba.prange(batch):
        s_prev = np.empty(hop)
        s_cur = np.empty(hop)
        g_this = np.empty(hop)  # the output's gradient times frame t's weight, (1 - r)
        g_next = np.empty(hop)  # ... and times frame t + 1's, r
        grad = np.zeros((n_frames, n_harm))
        for t in range(n_frames):
            first = t * hop
            nxt = min(t + 1, n_frames - 1)
            top = _start_frame(sin1, highest, b, first, s_prev, s_cur)
            for j in range(hop):
                g = np.float64(grad_out[b, first + j])
                g_next[j] = g * ramp[j]
                g_this[j] = g - g_next[j]
            for k in range(min(top, n_harm)):
                this = 0.0
                upcoming = 0.0
                for j in range(hop):
                    s = s_cur[j]
                    if k < highest[b, first + j]:
                        this += g_this[j] * s
                        upcoming += g_next[j] * s
                    s_cur[j] = 2.0 * cos1[b, first + j] * s - s_prev[j]
                    s_prev[j] = s
                grad[t, k] += this
                grad[nxt, k] += upcoming
        for t in range(n_frames):
            for k in range(n_harm):
                grad_amps[b, t, k] = np.float32(grad[t, k])


class _HarmonicBank(torch.autograd.Function):
    """(sin1, cos1, highest [B, n], amps [B, T, K]) -> audio [B, n]; gradient for amps only."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        sin1: torch.Tensor,
        cos1: torch.Tensor,
        highest: torch.Tensor,
        amps: torch.Tensor,
    ) -> torch.Tensor:
        out = np.empty(sin1.shape, np.float32)
        follow_torch_threads()
        _bank_forward(sin1.numpy(), cos1.numpy(), highest.numpy(), amps.detach().numpy(), out)
        ctx.save_for_backward(sin1, cos1, highest)
        ctx.amps_shape = amps.shape  # type: ignore[attr-defined]
        return torch.from_numpy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the pass has no graph of its own
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[None, None, None, torch.Tensor]:
        sin1, cos1, highest = ctx.saved_tensors  # type: ignore[attr-defined]
        grad = np.empty(ctx.amps_shape, np.float32)  # type: ignore[attr-defined]
        follow_torch_threads()
        _bank_backward(
            sin1.numpy(), cos1.numpy(), highest.numpy(), grad_out.contiguous().numpy(), grad
        )
        return None, None, None, torch.from_numpy(grad)


def compiled_bank_applies(amplitudes: torch.Tensor) -> bool:
    """Whether `harmonic_bank` takes these amplitudes: float32 on the CPU."""
    return amplitudes.device.type == "cpu" and amplitudes.dtype == torch.float32


def harmonic_bank(
    phase: torch.Tensor, highest: torch.Tensor, amplitudes: torch.Tensor
) -> torch.Tensor:
    """The bank's sum. phase: [B, n] float64 fundamental phase (rad) per sample; highest: [B, n]
    the highest audible harmonic per sample (any real dtype, whole numbers); amplitudes:
    [B, T, K] float32 on the CPU, n = T * hop. Returns audio [B, n] float32, differentiable with
    respect to amplitudes."""
    sin1 = torch.sin(phase).contiguous()
    cos1 = torch.cos(phase).contiguous()
    top = highest.to(torch.int32).contiguous()
    result: torch.Tensor = _HarmonicBank.apply(sin1, cos1, top, amplitudes.contiguous())
    return result
