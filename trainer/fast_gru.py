"""The GRU's recurrence on the CPU as two compiled loops (numba), forward and backward.

`nn.GRU` on the CPU runs each time step as a dozen small operators and autograd records all of
them: for the decoders here (batch 8, 100 frames, H = 128...512) that overhead, not arithmetic, is
most of a training step's recurrent time. `gru_sequence` computes the same function, with the
same parameters (so checkpoints, export and the engine are untouched), as: the input projections
of all frames in one matrix product (torch, autograd as usual), the recurrence in one numba loop
that keeps what the backward pass needs, and a backward loop that returns the gradients of the
input projections, of h0 and (as one matrix product over all frames) of the recurrent weights.

PyTorch's GRU, per layer and frame (r, z, n in that order in weight_hh / weight_ih):
    r = σ(x W_ir + b_ir + h W_hr + b_hr)
    z = σ(x W_iz + b_iz + h W_hz + b_hz)
    n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

Used for CPU float32 training only; anything else (CUDA, autocast, export tracing in eval mode)
takes nn.GRU itself. tests/trainer/test_fast_gru.py holds the two to 1e-5.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn

# Reassociation and contraction, but not "no NaN / no inf": a NaN that reaches a loop must come
# out as NaN (the trainer's non-finite guard then skips that step), and tanh is written
# through exp, which overflows to inf on purpose. error_model="numpy":
# division follows IEEE, without Python's zero checks (which fastmath turns against NaN).
# Written out in each kernel's own file: numba's cache is keyed on that file's source.
FAST_MATH = {"nsz", "arcp", "contract", "reassoc"}


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def _forward_loop(
    gi: np.ndarray,
    w_hh_t: np.ndarray,
    b_hh: np.ndarray,
    hs: np.ndarray,
    gates: np.ndarray,
    hn: np.ndarray,
) -> None:
    """gi: [T, B, 3H] input projections (b_ih included); w_hh_t: [H, 3H]; b_hh: [3H].
    Writes hs [T + 1, B, H] (hs[0] = h0 on entry), gates [T, B, 3H] (r, z, n after their
    nonlinearities) and hn [T, B, H] (h W_hn + b_hn)."""
    n_frames, batch, three_h = gi.shape
    hidden = three_h // 3
    one, two = np.float32(1.0), np.float32(2.0)  # float32 constants keep the math in float32
    gh = np.empty((batch, three_h), np.float32)
    for t in range(n_frames):
        np.dot(hs[t], w_hh_t, gh)  # [B, 3H]
        for b in range(batch):
            for j in range(hidden):
                r = one / (one + np.exp(-(gi[t, b, j] + gh[b, j] + b_hh[j])))
                k = hidden + j
                z = one / (one + np.exp(-(gi[t, b, k] + gh[b, k] + b_hh[k])))
                k = 2 * hidden + j
                h_new = gh[b, k] + b_hh[k]
                # tanh(a) = 1 - 2 / (e^2a + 1): exp is ~5x faster than tanh here, and the
                # absolute error stays at float32 rounding (about 1e-7) for every a.
                n = one - two / (np.exp(two * (gi[t, b, k] + r * h_new)) + one)
                hs[t + 1, b, j] = n + z * (hs[t, b, j] - n)
                gates[t, b, j] = r
                gates[t, b, hidden + j] = z
                gates[t, b, 2 * hidden + j] = n
                hn[t, b, j] = h_new


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy")
def _backward_loop(
    d_out: np.ndarray,
    hs: np.ndarray,
    gates: np.ndarray,
    hn: np.ndarray,
    w_hh: np.ndarray,
    d_gi: np.ndarray,
    d_gh: np.ndarray,
    d_h0: np.ndarray,
) -> None:
    """d_out: [T, B, H] gradient of the outputs; w_hh: [3H, H]. Writes d_gi [T, B, 3H]
    (gradient of the input projections), d_gh [T, B, 3H] (of h W_hh + b_hh) and d_h0 [B, H]."""
    n_frames, batch, hidden = d_out.shape
    one = np.float32(1.0)
    carry = np.zeros((batch, hidden), np.float32)  # dL/dh_t from the later frames
    through = np.empty((batch, hidden), np.float32)
    for t in range(n_frames - 1, -1, -1):
        for b in range(batch):
            for j in range(hidden):
                dh = carry[b, j] + d_out[t, b, j]
                r = gates[t, b, j]
                z = gates[t, b, hidden + j]
                n = gates[t, b, 2 * hidden + j]
                dn = dh * (one - z) * (one - n * n)
                dz = dh * (hs[t, b, j] - n) * z * (one - z)
                dr = dn * hn[t, b, j] * r * (one - r)
                d_gi[t, b, j] = dr
                d_gi[t, b, hidden + j] = dz
                d_gi[t, b, 2 * hidden + j] = dn
                d_gh[t, b, j] = dr
                d_gh[t, b, hidden + j] = dz
                d_gh[t, b, 2 * hidden + j] = dn * r
                carry[b, j] = dh * z
        np.dot(d_gh[t], w_hh, through)  # [B, H]
        carry += through
    d_h0[:] = carry


class _Recurrence(torch.autograd.Function):
    """(gi [B, T, 3H], w_hh [3H, H], b_hh [3H], h0 [B, H]) -> outputs h [B, T, H]."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        gi: torch.Tensor,
        w_hh: torch.Tensor,
        b_hh: torch.Tensor,
        h0: torch.Tensor,
    ) -> torch.Tensor:
        batch, n_frames, three_h = gi.shape
        hidden = three_h // 3
        hs = np.empty((n_frames + 1, batch, hidden), np.float32)
        hs[0] = h0.detach().numpy()
        gates = np.empty((n_frames, batch, three_h), np.float32)
        hn = np.empty((n_frames, batch, hidden), np.float32)
        _forward_loop(
            gi.detach().transpose(0, 1).contiguous().numpy(),
            np.ascontiguousarray(w_hh.detach().numpy().T),
            b_hh.detach().contiguous().numpy(),
            hs,
            gates,
            hn,
        )
        ctx.arrays = (hs, gates, hn)  # type: ignore[attr-defined]
        ctx.save_for_backward(w_hh)
        return torch.from_numpy(hs[1:]).transpose(0, 1)  # [B, T, H]

    @staticmethod
    @torch.autograd.function.once_differentiable  # the loops have no graph of their own
    def backward(
        ctx: torch.autograd.function.FunctionCtx, d_out: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        (w_hh,) = ctx.saved_tensors  # type: ignore[attr-defined]
        hs, gates, hn = ctx.arrays  # type: ignore[attr-defined]
        n_frames, batch, hidden = hn.shape
        d_gi = np.empty((n_frames, batch, 3 * hidden), np.float32)
        d_gh = np.empty_like(d_gi)
        d_h0 = np.empty((batch, hidden), np.float32)
        _backward_loop(
            d_out.detach().transpose(0, 1).contiguous().numpy(),
            hs,
            gates,
            hn,
            w_hh.detach().contiguous().numpy(),
            d_gi,
            d_gh,
            d_h0,
        )
        flat = torch.from_numpy(d_gh.reshape(-1, 3 * hidden))  # [T * B, 3H]
        d_w_hh = flat.t() @ torch.from_numpy(hs[:-1].reshape(-1, hidden))  # [3H, H]
        return (
            torch.from_numpy(d_gi).transpose(0, 1),
            d_w_hh,
            flat.sum(dim=0),
            torch.from_numpy(d_h0),
        )


# Above this hidden size the recurrent matrix products, not the per-step overhead, take the
# time, and nn.GRU's own (multi-threaded) kernels win: measured with bench/train.py on 2 cores,
# batch 8 x 100 frames, fwd + bwd: H = 128 8.8 ms against 29.6, H = 192 12.0 against 26.9, but
# H = 384 109 against 67.
FAST_MAX_HIDDEN = 256


def takes_fast_path(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor | None = None) -> bool:
    """Whether gru_sequence computes with the compiled loops: training on the CPU in float32,
    batch first, no dropout or bidirectionality, gradients on (so never inside export or eval),
    hidden size at most FAST_MAX_HIDDEN, x [B, T, I] and h0 None or [L, B, H] (anything else
    goes to nn.GRU, which names the problem)."""
    expected_h0 = (gru.num_layers, x.shape[0], gru.hidden_size) if x.dim() == 3 else None
    return (
        x.dim() == 3
        and x.shape[1] > 0
        and (h0 is None or (tuple(h0.shape) == expected_h0 and h0.dtype == x.dtype))
        and gru.training
        and gru.hidden_size <= FAST_MAX_HIDDEN
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and gru.batch_first
        and not gru.bidirectional
        and gru.dropout == 0.0
        and gru.bias
        and gru.proj_size == 0
    )


def gru_sequence(
    gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same as `gru(x, h0)` (batch first): x [B, T, I], h0 [L, B, H] or None (zeros).
    Returns (outputs of the last layer [B, T, H], final state [L, B, H])."""
    if not takes_fast_path(gru, x, h0):
        return gru(x, h0)
    if h0 is None:
        h0 = x.new_zeros(gru.num_layers, x.shape[0], gru.hidden_size)
    finals = []
    for layer in range(gru.num_layers):
        gi = nn.functional.linear(
            x, getattr(gru, f"weight_ih_l{layer}"), getattr(gru, f"bias_ih_l{layer}")
        )  # [B, T, 3H]
        x = _Recurrence.apply(
            gi, getattr(gru, f"weight_hh_l{layer}"), getattr(gru, f"bias_hh_l{layer}"), h0[layer]
        )
        finals.append(x[:, -1])
    return x, torch.stack(finals)
