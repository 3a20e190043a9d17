"""The files of a run directory, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def nca_checkpoint(self) -> Path:
        return self.root / "nca.pt"

    @property
    def nca_metrics(self) -> Path:
        return self.root / "nca_metrics.json"

    @property
    def growth_heatmap(self) -> Path:
        return self.root / "growth_heatmap.png"

    def growth_preview(self, strategy: str) -> Path:
        """growth_preview_{strategy}.wav: the seeds' discrete stages of a held note."""
        return self.root / f"growth_preview_{strategy}.wav"

    @property
    def growth_continuous(self) -> Path:
        return self.root / "growth_continuous.wav"

    @property
    def texture_checkpoint(self) -> Path:
        return self.root / "texture.pt"

    @property
    def texture_metrics(self) -> Path:
        return self.root / "texture_metrics.json"

    @property
    def texture_growth(self) -> Path:
        """texture_growth.png: the grid at the report's steps, time x cell."""
        return self.root / "texture_growth.png"

    @property
    def texture_loss_curve(self) -> Path:
        return self.root / "texture_loss_curve.png"

    def texture_wav(self, name: str) -> Path:
        """texture_{name}.wav: the texture's audio (at a step, held) or the target stretch."""
        return self.root / f"texture_{name}.wav"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def presets(self) -> Path:
        return self.root / "presets.json"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def loss_curve(self) -> Path:
        return self.root / "loss_curve.png"

    @property
    def spectrogram(self) -> Path:
        return self.root / "spectrogram.png"

    def wav(self, name: str) -> Path:
        """val_{name}.wav: reconstruction, harmonic, noise or target of the validation slice."""
        return self.root / f"val_{name}.wav"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"
