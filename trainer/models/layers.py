"""Small building blocks shared by the encoder and the decoder."""

from __future__ import annotations

from torch import nn


def mlp(n_in: int, width: int, *, layers: int = 2) -> nn.Sequential:
    """`layers` x (Linear -> LayerNorm -> LeakyReLU), as in DDSP's decoder MLPs."""
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [nn.Linear(n_in if i == 0 else width, width), nn.LayerNorm(width), nn.LeakyReLU()]
    return nn.Sequential(*blocks)
