"""The per-frame step graph: decoder + NCA step, state in and state out (the artifact's graph)."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.nca import HarmonicNCA
from trainer.nca import read_mask


class StepGraph(nn.Module):
    """One control frame of N voices (the batch axis; any N). See export/contract.py for names
    and shapes."""

    def __init__(self, ddsp: DDSPAutoencoder, nca: HarmonicNCA) -> None:
        super().__init__()
        self.ddsp = ddsp.eval()
        self.nca = nca.eval()

    def forward(
        self,
        f0_hz: torch.Tensor,  # [N, 1] Hz
        loudness_db: torch.Tensor,  # [N, 1] dB
        z: torch.Tensor,  # [N, Z]
        gru_state: torch.Tensor,  # [L, N, H]
        nca_state: torch.Tensor,  # [N, C, K]
        nca_step: torch.Tensor,  # [N] 0 or 1: advance the NCA by one step in this frame
        nca_fire: torch.Tensor,  # [N, 1, K] 0/1 random update mask drawn by the engine
    ) -> tuple[torch.Tensor, ...]:
        stepped = self.nca(nca_state, nca_fire)
        go = (nca_step > 0.5).to(nca_state.dtype).reshape(-1, 1, 1)
        nca_state_out = go * stepped + (1.0 - go) * nca_state
        mask = read_mask(nca_state_out)  # [N, K]
        raw, gru_state_out = self.ddsp.decode_raw(f0_hz, loudness_db, z, state=gru_state)
        controls = self.ddsp.physical_controls(raw, f0_hz, loudness_db, mask=mask)
        full = self.ddsp.physical_controls(raw, f0_hz, loudness_db, mask=torch.ones_like(mask))
        return (
            controls.harmonic_amps[:, 0],  # [N, K] linear amplitudes, mask applied
            controls.noise_mags[:, 0],  # [N, B] linear band gains
            mask,
            gru_state_out,
            nca_state_out,
            full.harmonic_amps[:, 0],  # [N, K] the same frame unmasked: the full timbre
        )
