"""The typed parameter store: every continuous control with its unit, range, default and
smoothing time. OSC handlers (and renders) write here; the engine reads once per control frame.

A write validates and clamps; it never blocks. A float assignment into a preallocated numpy array
is atomic under the GIL, so a writer thread and the audio thread need no lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import ParameterError


@dataclass(frozen=True)
class ParamSpec:
    name: str
    unit: str
    low: float
    high: float
    default: float
    smoothing_s: float  # one-pole time constant of the engine's smoothing (0 = none)
    doc: str


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("pitch_hz", "Hz", 20.0, 4000.0, 220.0, 0.01, "pitch of the newest note"),
    ParamSpec("bend_semitones", "st", -24.0, 24.0, 0.0, 0.01, "pitch bend added to the pitch"),
    ParamSpec("loudness_db", "dB", -100.0, 0.0, -15.0, 0.02, "loudness fed to the decoder"),
    ParamSpec("velocity", "0..1", 0.0, 1.0, 1.0, 0.0, "newest note's velocity (its envelope)"),
    ParamSpec("gain_db", "dB", -60.0, 12.0, 0.0, 0.05, "master output gain"),
    ParamSpec("noise_db", "dB", -120.0, 12.0, 0.0, 0.05, "gain of the noise branch"),
    ParamSpec("mask_blend", "0..1", 0.0, 1.0, 1.0, 0.05, "0 = full learned timbre, 1 = NCA mask"),
    ParamSpec("nca_rate", "steps/s", 0.0, 100.0, 8.0, 0.0, "NCA growth speed; 0 freezes"),
    ParamSpec(
        "texture_blend",
        "0..1",
        0.0,
        1.0,
        0.0,
        0.05,
        "0 = the plain timbre, 1 = the texture NCA's (models with a texture)",
    ),
    ParamSpec(
        "texture_rate",
        "steps/s",
        0.0,
        50.0,
        12.0,
        0.0,
        "texture NCA growth speed while it is heard; 0 freezes",
    ),
    ParamSpec(
        "gate_db",
        "dB",
        -120.0,
        0.0,
        -70.0,
        0.0,
        "silence gate: below this loudness (less 6 dB hysteresis) the voice fades to silence",
    ),
)
# Effect mode (realtime.effect): what the input's tracked pitch and loudness become.
EFFECT_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("pitch_shift", "st", -48.0, 48.0, 0.0, 0.0, "effect mode: input pitch transpose"),
    ParamSpec(
        "loudness_offset", "dB", -60.0, 60.0, 0.0, 0.0, "effect mode: added to input loudness"
    ),
    ParamSpec("effect_mix", "0..1", 0.0, 1.0, 1.0, 0.0, "effect mode: 0 = dry input, 1 = model"),
)
PARAMS = PARAMS + EFFECT_PARAMS
SPECS = {spec.name: spec for spec in PARAMS}
# How the NCA mask grows (realtime.engine): the full timbre, growth while notes sound (each voice
# its own), growth from the fundamental at every note after silence, or one mask that every voice
# plays through, grown while any note sounds.
GROWTH_MODES = ("off", "free", "per-note", "shared")


class ParameterStore:
    """Current target value of every parameter, in a preallocated float64 array."""

    def __init__(self) -> None:
        self.values = np.array([spec.default for spec in PARAMS], dtype=np.float64)
        self.index = {spec.name: i for i, spec in enumerate(PARAMS)}
        self.clamped = 0  # writes that were out of range and clamped

    def set(self, name: str, value: float) -> float:
        """Validate, clamp into range, store; returns the stored value."""
        if name not in self.index:
            raise ParameterError(f"unknown parameter {name!r}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParameterError(f"{name}={value!r} must be a finite number")
        spec = SPECS[name]
        stored = min(max(float(value), spec.low), spec.high)
        if stored != value:
            self.clamped += 1
        self.values[self.index[name]] = stored
        return stored

    def get(self, name: str) -> float:
        return float(self.values[self.index[name]])


class Smoother:
    """One-pole smoothing of every parameter, stepped once per control frame."""

    def __init__(self, store: ParameterStore, *, frame_rate: float) -> None:
        self.store = store
        self.state = store.values.copy()
        self._step = np.zeros_like(self.state)
        taus = np.array([spec.smoothing_s for spec in PARAMS])
        per_frame = np.exp(-1.0 / (np.maximum(taus, 1e-9) * frame_rate))
        self.coeff = np.where(taus > 0, 1.0 - per_frame, 1.0)

    def step(self) -> np.ndarray:
        """Move every value towards its target; returns the smoothed values (do not keep)."""
        np.subtract(self.store.values, self.state, out=self._step)  # in place: no allocation
        self._step *= self.coeff
        self.state += self._step
        return self.state

    def step_from(self, names: frozenset[str], start: np.ndarray) -> None:
        """Step only these parameters, from `start` (their values before this frame's step)
        towards their targets now, as `step` does: a control that arrives within a frame."""
        for name in names:
            i = self.store.index[name]
            self.state[i] = start[i] + self.coeff[i] * (self.store.values[i] - start[i])

    def value(self, name: str) -> float:
        return float(self.state[self.store.index[name]])

    def disable(self, name: str) -> None:
        """Follow this parameter's target exactly (e.g. pitch and loudness tracked from audio)."""
        self.coeff[self.store.index[name]] = 1.0

    def jump(self, name: str) -> None:
        """Skip the smoothing of one parameter (e.g. the pitch of a new note after silence)."""
        i = self.store.index[name]
        self.state[i] = self.store.values[i]
