"""One voice's state, kept apart from the engine so that the engine can hold several (polyphony)
and a duplex effect mode one: decoder and NCA state, oscillator phase, envelope, the note it
plays (pitch, velocity, age), its NCA clock, and the controls of the frame it last computed.

A voice's random streams are keyed by its `slot` (realtime.synth.frame_generator), so slot 0 of a
polyphonic engine draws exactly what the monophonic engine draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from export.contract import ArtifactMetadata
from realtime.envelope import ADSR
from realtime.params import SPECS

SAVED_ARRAYS = ("gru_state", "nca_state", "z")  # what Voice.save copies in place
MAX_VOICES = 64  # an engine's most voices (each sounding one costs a row of the frame's call)
DEFAULT_VOICES = 8  # grow-live's and grow-render --score's


@dataclass
class FrameControls:
    """Physical controls of one frame, ready for the synth."""

    f0_hz: float = 0.0
    harmonic_amps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # [K]
    noise_mags: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [B] gains applied

    @classmethod
    def zeros(cls, meta: ArtifactMetadata) -> FrameControls:
        """A silent frame with room for the model's K harmonics and B noise bands."""
        return cls(
            harmonic_amps=np.zeros(meta.n_harmonics, np.float32),
            noise_mags=np.zeros(meta.n_noise_bands),
        )

    def silent(self) -> bool:
        """Nothing of this frame is heard (every harmonic and noise gain exactly zero)."""
        return not (self.harmonic_amps.any() or self.noise_mags.any())

    def copy(self) -> FrameControls:
        return FrameControls(self.f0_hz, self.harmonic_amps.copy(), self.noise_mags.copy())


@dataclass
class Voice:
    slot: int
    gru_state: np.ndarray  # [L, 1, H]
    nca_state: np.ndarray  # [1, C, K]
    z: np.ndarray  # [1, Z] current (smoothed) timbre vector
    z_target: np.ndarray  # [1, Z]
    phase: float = 0.0  # fundamental phase, rad
    note: float = 69.0  # MIDI note it plays (or last played): the note id of NoteOff
    pitch_hz: float = SPECS["pitch_hz"].default  # smoothed pitch, before the shared bend
    pitch_target_hz: float = SPECS["pitch_hz"].default
    velocity: float = 1.0
    started: int = -1  # note-on count when its note began (the allocator's age; -1: never)
    pending: tuple[float, float] | None = None  # (Hz, velocity) to start once stolen and faded
    nca_step_count: int = 0
    nca_clock: float = 0.0  # fractional NCA steps owed
    nca_pending: int = 0  # steps requested by /grow/nca/step
    envelope: ADSR = field(default_factory=ADSR)
    # The segment being played runs from `current` (frame t) to `upcoming` (frame t + 1); the
    # engine writes each frame into these arrays in place and swaps the two at frame t + 1.
    current: FrameControls = field(default_factory=FrameControls)
    upcoming: FrameControls = field(default_factory=FrameControls)
    mask: np.ndarray = field(default_factory=lambda: np.zeros((1, 0), np.float32))  # [1, K]
    origin: int = 0  # segment sample where its ramp from `current` begins (moved by a re-aim)
    # The state before the engine last stepped it (`save`), so that a control arriving between
    # frames can recompute the frame from there (`restore`); and the noise it last added.
    saved: tuple[float, float, str] = (0.0, 0.0, "idle")  # pitch, envelope level and stage
    saved_counters: tuple[float, int, int] = (0.0, 0, 0)  # NCA clock, pending, step count
    saved_arrays: tuple[np.ndarray, ...] = ()
    saved_mags: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [B]

    @classmethod
    def fresh(cls, meta: ArtifactMetadata, z: np.ndarray, *, slot: int = 0) -> Voice:
        return cls(
            slot=slot,
            gru_state=np.zeros((meta.gru_layers, 1, meta.gru_hidden), np.float32),
            nca_state=np.asarray([meta.nca_seed_state], np.float32),
            z=z.copy(),
            z_target=z.copy(),
            current=FrameControls.zeros(meta),
            upcoming=FrameControls.zeros(meta),
            mask=np.zeros((1, meta.n_harmonics), np.float32),
            saved_mags=np.zeros(meta.n_noise_bands),
        )

    def save(self) -> None:
        """Remember the state that stepping a frame changes (copied in place: no allocation)."""
        if not self.saved_arrays:
            self.saved_arrays = tuple(getattr(self, name).copy() for name in SAVED_ARRAYS)
        for name, saved in zip(SAVED_ARRAYS, self.saved_arrays, strict=True):
            saved[...] = getattr(self, name)
        self.saved = (self.pitch_hz, self.envelope.level, self.envelope.stage)
        self.saved_counters = self._counters()

    def restore(self) -> None:
        """Back to the state of the last `save`."""
        for name, saved in zip(SAVED_ARRAYS, self.saved_arrays, strict=True):
            getattr(self, name)[...] = saved
        self.pitch_hz, self.envelope.level, self.envelope.stage = self.saved
        self.nca_clock, self.nca_pending, self.nca_step_count = self.saved_counters

    def _counters(self) -> tuple[float, int, int]:
        return self.nca_clock, self.nca_pending, self.nca_step_count

    @property
    def saved_pitch_hz(self) -> float:
        return self.saved[0]

    @property
    def saved_stage(self) -> str:
        """The envelope's stage at the last `save`."""
        return self.saved[2]

    def advance(self) -> None:
        """Frame t + 1 becomes the segment's start: swap `current` and `upcoming`."""
        self.current, self.upcoming = self.upcoming, self.current
        self.origin = 0

    @property
    def sounding(self) -> bool:
        """Its envelope is open (attack to release)."""
        return self.envelope.stage != "idle"

    @property
    def fading(self) -> bool:
        """Closed (stolen this frame), but its last frame still sounds: the ramp to zero."""
        return not self.sounding and not self.current.silent()

    @property
    def held(self) -> bool:
        """Its note is held (not idle, not released)."""
        return self.envelope.stage not in ("idle", "release")
