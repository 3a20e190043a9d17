"""Harmonic Neural Cellular Automaton as pure functions.

The state S has C channels over K cells, one cell per harmonic: [batch, C, K]. Channel 0 carries
the mask m[k] = clamp(S[0, k], 0, 1). The boundary is zero (not circular): harmonic K is no
neighbour of harmonic 1, and cells beyond either end are dead and empty.

One step: perceive (identity, gradient and Laplacian of every channel over a 3-cell
neighbourhood), compute an update with the rule (1x1 convolutions), apply it only where the random
fire mask is 1, then keep only cells that were alive before the step (a cell is alive if it or a
neighbour has S[0] above the threshold). Using only the pre-step alive mask keeps a step strictly
local: changing cell k can change only cells k - 1, k, k + 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

ALIVE_THRESHOLD = 0.1


def perceive(state: torch.Tensor) -> torch.Tensor:
    """[batch, C, K] -> [batch, 3C, K]: identity, (x[k+1] - x[k-1]) / 2, x[k-1] - 2x[k] + x[k+1]."""
    # Python numbers, not state.new_tensor / a traced size: the ONNX exporter then knows the
    # kernel's shape whatever the batch (the step graph's batch axis is dynamic)
    channels = int(state.shape[1])
    kernels = torch.tensor(
        [[0.0, 1.0, 0.0], [-0.5, 0.0, 0.5], [1.0, -2.0, 1.0]],
        dtype=state.dtype,
        device=state.device,
    )  # [3, 3]
    weight = kernels.repeat(channels, 1)[:, None, :]  # [3C, 1, 3], grouped per channel
    return F.conv1d(state, weight, padding=1, groups=channels)


def alive_mask(state: torch.Tensor, *, threshold: float = ALIVE_THRESHOLD) -> torch.Tensor:
    """[batch, C, K] -> [batch, 1, K] float (1 = alive): S[0] above threshold in the 3-cell
    neighbourhood (zero boundary)."""
    padded = F.pad(state[:, :1], (1, 1))  # zeros beyond both ends
    return (F.max_pool1d(padded, 3, stride=1) > threshold).to(state.dtype)


def nca_step(
    state: torch.Tensor, fire: torch.Tensor, rule: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """One NCA step. state: [batch, C, K]; fire: [batch, 1, K] 0/1 (which cells update);
    rule: perception [batch, 3C, K] -> update [batch, C, K]. Returns the new state."""
    alive = alive_mask(state)
    update = rule(perceive(state)) * fire
    return (state + update) * alive


def read_mask(state: torch.Tensor) -> torch.Tensor:
    """Harmonic mask in [0, 1]: [batch, C, K] -> [batch, K]."""
    return state[:, 0].clamp(0.0, 1.0)


def seed_state(batch: int, channels: int, n_harmonics: int, *, n_alive: int = 1) -> torch.Tensor:
    """The seed: the first `n_alive` harmonics (default the fundamental) alive, all channels 1."""
    state = torch.zeros(batch, channels, n_harmonics)
    state[:, :, :n_alive] = 1.0
    return state


def draw_fire(
    batch: int, n_harmonics: int, *, rate: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random update mask [batch, 1, K] of 0/1, each cell firing with probability `rate`."""
    return (torch.rand(batch, 1, n_harmonics, generator=generator) < rate).float()
