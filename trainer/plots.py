"""PNG figures of a run (matplotlib, Agg backend), written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.atomic import atomic_path


def _figure(rows: int, *, width: float = 10.0, height: float = 3.0):  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, 1, figsize=(width, height * rows), squeeze=False)


def _save(fig, target: Path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_loss_curve(history: dict[str, list[float]], target: Path) -> None:
    """Training loss (raw and smoothed) and validation loss against the step."""
    fig, axes = _figure(1)
    ax = axes[0, 0]
    steps, loss = np.array(history["step"]), np.array(history["loss"])
    if loss.size:
        ax.plot(steps, loss, color="0.8", lw=0.6, label="train (per step)")
        width = max(1, loss.size // 50)
        smooth = np.convolve(loss, np.ones(width) / width, mode="valid")
        ax.plot(steps[width - 1 :], smooth, color="C0", label=f"train (mean of {width})")
    if history["val_step"]:
        ax.plot(history["val_step"], history["val_loss"], "o-", color="C1", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("multi-scale spectral loss")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, target)


def log_spectrogram_db(audio: np.ndarray, *, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """|STFT| in dB (max 0) of audio [n]: [n_fft // 2 + 1, frames]."""
    import librosa

    mag = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop))
    return 20 * np.log10(np.maximum(mag, 1e-6) / max(float(mag.max()), 1e-6))


def plot_spectrograms(
    signals: Sequence[tuple[str, np.ndarray]],
    *,
    sample_rate: int,
    target: Path,
    marker_s: float | None = None,
) -> None:
    """One spectrogram panel per (title, audio [n]) pair, on a shared dB scale; `marker_s`
    draws a dashed line at that time (e.g. where the validation slice starts)."""
    fig, axes = _figure(len(signals))
    for ax, (title, audio) in zip(axes[:, 0], signals, strict=True):
        spec = log_spectrogram_db(audio)
        seconds = audio.shape[0] / sample_rate
        image = ax.imshow(
            spec,
            origin="lower",
            aspect="auto",
            vmin=-80,
            vmax=0,
            cmap="magma",
            extent=(0.0, seconds, 0.0, sample_rate / 2 / 1000),
        )
        ax.set_title(title)
        ax.set_ylabel("kHz")
        fig.colorbar(image, ax=ax, label="dB re peak", pad=0.01)
        if marker_s is not None and marker_s > 0:
            ax.axvline(marker_s, color="white", ls="--", lw=1)
    axes[-1, 0].set_xlabel("time in this excerpt (s)")
    _save(fig, target)


def plot_growth_heatmap(growth: np.ndarray, regrowth: np.ndarray, *, target: Path) -> None:
    """Mask over harmonic x step: growth from the seed (left), regrowth after damage (right).

    growth, regrowth: [steps + 1, K] masks in [0, 1].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True, layout="constrained")
    panels = (
        ("growth from the seed (fundamental)", growth),
        ("regrowth after 50% of cells are zeroed", regrowth),
    )
    for ax, (title, masks) in zip(axes, panels, strict=True):
        image = ax.imshow(
            masks.T,
            origin="lower",
            aspect="auto",
            vmin=0,
            vmax=1,
            cmap="viridis",
            extent=(-0.5, masks.shape[0] - 0.5, 0.5, masks.shape[1] + 0.5),
        )
        ax.set_title(title)
        ax.set_xlabel("NCA step")
    axes[0].set_ylabel("harmonic")
    fig.colorbar(image, ax=axes, label="mask")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_texture_growth(
    grids: Sequence[tuple[int, np.ndarray]], *, harmonic_cells: int, seconds: float, target: Path
) -> None:
    """The texture's level (channel 0) at some steps: one panel per (step, grid [T, F]), time
    across, the harmonic strip below the wall (a white line) and the noise strip above it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(grids) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False, layout="constrained"
    )
    image = None
    for ax, (step, grid) in zip(axes.flat, grids, strict=False):
        image = ax.imshow(
            grid.T,
            origin="lower",
            aspect="auto",
            vmin=0,
            vmax=max(1.0, float(grid.max())),
            cmap="viridis",
            extent=(0.0, seconds, -0.5, grid.shape[1] - 0.5),
        )
        ax.axhline(harmonic_cells, color="white", lw=0.8)
        ax.set_title(f"step {step}")
        ax.set_xlabel("loop time (s)")
        ax.set_ylabel(f"harmonic 1..{harmonic_cells} | noise")
    for ax in list(axes.flat)[len(grids) :]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes, label="cell level (channel 0)")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
