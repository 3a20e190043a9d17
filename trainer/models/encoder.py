"""MFCC encoder: per-frame MFCCs -> one timbre vector z per segment (or per file: a preset)."""

from __future__ import annotations

import torch
from torch import nn

from trainer.fast_gru import gru_sequence


class MfccEncoder(nn.Module):
    """Normalised MFCC frames -> GRU -> linear -> time average.

    The average makes z one vector per segment, as it is at play time (a stored preset), so that
    the decoder never learns to rely on a z that moves within a note.
    """

    def __init__(self, *, n_mfcc: int = 30, hidden: int = 128, z_dim: int = 16) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_mfcc)
        self.gru = nn.GRU(n_mfcc, hidden, batch_first=True)
        self.proj = nn.Linear(hidden, z_dim)

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: [batch, T, n_mfcc] -> z: [batch, z_dim]."""
        hidden, _ = gru_sequence(self.gru, self.norm(mfcc))  # [batch, T, hidden]
        return self.proj(hidden).mean(dim=1)
