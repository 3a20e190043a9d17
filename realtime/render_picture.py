"""The optional picture of a render (`grow-render --png`): its spectrogram above the harmonic
amplitudes the engine played per control frame, which shows the growth. Needs matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.atomic import atomic_path
from export.errors import ParameterError
from realtime.engine import Engine


def write_render_picture(path: Path, audio: np.ndarray, engine: Engine) -> None:
    """audio: float32 [n] at engine.sample_rate; engine: the one that rendered it, with trace."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ParameterError("--png needs matplotlib (pip install matplotlib)") from None
    assert engine.trace is not None
    rate, n_fft, hop = engine.sample_rate, 2048, 512
    frames = max(1, 1 + (audio.shape[0] - n_fft) // hop)
    window = np.hanning(n_fft).astype(np.float32)
    padded = np.pad(audio, (0, max(0, n_fft - audio.shape[0])))
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]  # [frames, n_fft]
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2  # [frames, bins]
    spec_db = 10 * np.log10(power.T + 1e-10)
    amps = np.array([c.harmonic_amps for c in engine.trace])  # [T, K]
    amps_db = 20 * np.log10(np.maximum(amps.T, 1e-6))
    seconds = audio.shape[0] / rate
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    picture = top.imshow(
        spec_db,
        origin="lower",
        aspect="auto",
        extent=(0, seconds, 0, rate / 2000),
        vmin=spec_db.max() - 90,
        vmax=spec_db.max(),
        cmap="magma",
    )
    # The model sounds nothing above its training Nyquist: the axis ends where the content does.
    band_khz = min(rate, engine.meta.sample_rate) / 2000
    top.set_ylim(0, band_khz * 1.05)
    top.set_ylabel("frequency (kHz)")
    top.set_title("spectrogram")
    fig.colorbar(picture, ax=top, label="dB", pad=0.01)
    growth = bottom.imshow(
        amps_db,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        extent=(0, len(engine.trace) / engine.frame_rate, 0.5, amps.shape[1] + 0.5),
        vmin=-80,
        vmax=max(float(amps_db.max()), -60),
    )
    bottom.set_ylabel("harmonic")
    bottom.set_xlabel("time (s)")
    bottom.set_title("harmonic amplitudes played (dB): the growth")
    fig.colorbar(growth, ax=bottom, label="dB", pad=0.01)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
