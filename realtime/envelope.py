"""Note gate ADSR evaluated once per control frame (the synth interpolates between frames)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ADSR:
    attack_s: float = 0.015
    decay_s: float = 0.1
    sustain: float = 0.85
    release_s: float = 0.25
    level: float = 0.0  # current envelope value, 0..1
    stage: str = "idle"  # idle, attack, decay, sustain, release

    def gate_on(self) -> None:
        self.stage = "attack"  # from the current level: no click on retrigger

    def gate_off(self) -> None:
        if self.stage != "idle":
            self.stage = "release"

    def step(self, dt: float) -> float:
        """Advance by dt seconds; returns the level."""
        if self.stage == "attack":
            self.level = min(1.0, self.level + dt / self.attack_s)
            if self.level >= 1.0:
                self.stage = "decay"
        elif self.stage == "decay":
            self.level = max(self.sustain, self.level - dt * (1.0 - self.sustain) / self.decay_s)
            if self.level <= self.sustain:
                self.stage = "sustain"
        elif self.stage == "release":
            self.level = max(0.0, self.level - dt / self.release_s)
            if self.level <= 0.0:
                self.stage = "idle"
        return self.level
