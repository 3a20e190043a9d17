"""The per-frame step graph: decoder + NCA step, state in and state out (the artifact's graph)."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.nca import HarmonicNCA
from trainer.nca import read_mask


class StepGraph(nn.Module):
    """One control frame, batch 1. See export/contract.py for names and shapes."""

    def __init__(self, ddsp: DDSPAutoencoder, nca: HarmonicNCA) -> None:
        super().__init__()
        self.ddsp = ddsp.eval()
        self.nca = nca.eval()

    def forward(
        self,
        f0_hz: torch.Tensor,  # [1, 1] Hz
        loudness_db: torch.Tensor,  # [1, 1] dB
        z: torch.Tensor,  # [1, Z]
        gru_state: torch.Tensor,  # [L, 1, H]
        nca_state: torch.Tensor,  # [1, C, K]
        nca_step: torch.Tensor,  # [1] 0 or 1: advance the NCA by one step in this frame
        nca_fire: torch.Tensor,  # [1, 1, K] 0/1 random update mask drawn by the engine
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        stepped = self.nca(nca_state, nca_fire)
        go = (nca_step > 0.5).to(nca_state.dtype).reshape(1, 1, 1)
        nca_state_out = go * stepped + (1.0 - go) * nca_state
        mask = read_mask(nca_state_out)  # [1, K]
        raw, gru_state_out = self.ddsp.decode_raw(f0_hz, loudness_db, z, state=gru_state)
        controls = self.ddsp.physical_controls(raw, f0_hz, loudness_db, mask=mask)
        return (
            controls.harmonic_amps[:, 0],  # [1, K] linear amplitudes, mask applied
            controls.noise_mags[:, 0],  # [1, B] linear band gains
            mask,
            gru_state_out,
            nca_state_out,
        )
