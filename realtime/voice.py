"""One voice's state, kept apart from the engine so that polyphony and a duplex effect mode can
hold several: decoder and NCA state, oscillator phase, envelope, the noise overlap-add tail, and
the controls of the frames around the segment being played."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from export.contract import ArtifactMetadata
from realtime.envelope import ADSR


@dataclass
class FrameControls:
    """Physical controls of one frame, ready for the synth."""

    f0_hz: float = 0.0
    harmonic_amps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # [K]
    noise_mags: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [B] gains applied
    noise_fir: np.ndarray = field(default_factory=lambda: np.zeros(1))  # [2D + 1]


@dataclass
class Voice:
    gru_state: np.ndarray  # [L, 1, H]
    nca_state: np.ndarray  # [1, C, K]
    z: np.ndarray  # [1, Z] current (smoothed) timbre vector
    z_target: np.ndarray  # [1, Z]
    phase: float = 0.0  # fundamental phase, rad
    frame: int = 0  # index of the frame at the start of the current segment
    nca_step_count: int = 0
    nca_clock: float = 0.0  # fractional NCA steps owed
    nca_pending: int = 0  # steps requested by /grow/nca/step
    envelope: ADSR = field(default_factory=ADSR)
    current: FrameControls = field(default_factory=FrameControls)
    mask: np.ndarray = field(default_factory=lambda: np.zeros((1, 0), np.float32))  # [1, K]
    noise_acc: np.ndarray = field(default_factory=lambda: np.zeros(0))  # overlap-add buffer

    @classmethod
    def fresh(cls, meta: ArtifactMetadata, z: np.ndarray) -> Voice:
        return cls(
            gru_state=np.zeros((meta.gru_layers, 1, meta.gru_hidden), np.float32),
            nca_state=np.asarray([meta.nca_seed_state], np.float32),
            z=z.copy(),
            z_target=z.copy(),
        )
