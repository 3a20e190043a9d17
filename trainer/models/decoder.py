"""Recurrent decoder: (f0, loudness, z) per frame -> raw harmonic and noise controls.

DDSP's RNN decoder, with its GRU state explicit so that one frame can be stepped at a time
(the exported graph does exactly that).
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.fast_gru import gru_sequence
from trainer.models.layers import mlp
from trainer.models.presets import DecoderSize


class Decoder(nn.Module):
    """Outputs per frame 1 + K + B raw values: overall amplitude, harmonic distribution, noise."""

    def __init__(
        self, size: DecoderSize, *, z_dim: int, n_harmonics: int, n_noise_bands: int
    ) -> None:
        super().__init__()
        width = size.mlp_width
        self.size = size
        self.input_mlp = mlp(2 + z_dim, width)
        self.gru = nn.GRU(width, size.gru_hidden, num_layers=size.gru_layers, batch_first=True)
        self.output_mlp = mlp(size.gru_hidden + width, width)
        self.head = nn.Linear(width, 1 + n_harmonics + n_noise_bands)
        with torch.no_grad():
            # Start with quiet noise (DDSP's noise initial bias), so harmonics learn first.
            self.head.bias[1 + n_harmonics :] = -5.0

    def initial_state(self, batch: int, *, device: torch.device | None = None) -> torch.Tensor:
        """Zero GRU state [L, batch, H]."""
        return torch.zeros(self.size.gru_layers, batch, self.size.gru_hidden, device=device)

    def forward(
        self,
        f0_scaled: torch.Tensor,
        loudness_scaled: torch.Tensor,
        z: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """f0_scaled, loudness_scaled: [batch, T]; z: [batch, Z]; state: [L, batch, H].

        Returns (raw [batch, T, 1 + K + B], new state [L, batch, H]).
        """
        n_frames = f0_scaled.shape[1]
        z_frames = z[:, None, :].expand(-1, n_frames, -1)  # [batch, T, Z]
        x = torch.cat([f0_scaled[..., None], loudness_scaled[..., None], z_frames], dim=-1)
        x = self.input_mlp(x)  # [batch, T, width]
        hidden, new_state = gru_sequence(self.gru, x, state)  # [batch, T, H]
        y = self.output_mlp(torch.cat([hidden, x], dim=-1))
        return self.head(y), new_state
