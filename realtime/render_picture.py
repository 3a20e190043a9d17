"""The optional picture of a render (`grow-render --png`): its spectrogram above the harmonic
amplitudes the engine played per control frame, which shows the growth. Needs matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.errors import ParameterError
from realtime.engine import Engine


def require_matplotlib(option: str) -> None:
    """ParameterError before any work when the picture could not be drawn (the live extra does
    not install matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ParameterError(
            f"{option} needs matplotlib: pip install matplotlib (or the train extra)"
        ) from None


def write_render_picture(path: Path, audio: np.ndarray, engine: Engine) -> None:
    """audio: float32 [n] at engine.sample_rate; engine: the one that rendered it, with trace."""
    require_matplotlib("--png")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert engine.trace is not None
    rate, n_fft, hop = engine.sample_rate, 2048, 512
    frames = max(1, 1 + (audio.shape[0] - n_fft) // hop)
    window = np.hanning(n_fft).astype(np.float32)
    padded = np.pad(audio, (0, max(0, n_fft - audio.shape[0])))
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]  # [frames, n_fft]
    # dB re full scale: a full-scale sine's bin reads 0 dB (its magnitude is sum(window) / 2).
    magnitude = np.abs(np.fft.rfft(padded[index] * window, axis=1)) / (window.sum() / 2)
    spec_db = 20 * np.log10(magnitude.T + 1e-6)  # [bins, frames]
    amps = np.array([c.harmonic_amps for c in engine.trace])  # [T, K]
    amps_db = 20 * np.log10(np.maximum(amps.T, 1e-6))
    spec_s = ((frames - 1) * hop + n_fft) / rate  # what the STFT frames cover
    trace_s = len(engine.trace) / engine.frame_rate
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    picture = top.imshow(
        spec_db,
        origin="lower",
        aspect="auto",
        extent=(0, spec_s, 0, rate / 2000),
        vmin=spec_db.max() - 90,
        vmax=spec_db.max(),
        cmap="magma",
    )
    # The model sounds nothing above its training Nyquist: the axis ends where the content does.
    band_khz = min(rate, engine.meta.sample_rate) / 2000
    top.set_ylim(0, band_khz * 1.05)
    top.set_ylabel("frequency (kHz)")
    top.set_title("spectrogram")
    fig.colorbar(picture, ax=top, label="dB re full scale", pad=0.01)
    growth = bottom.imshow(
        amps_db,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        extent=(0, trace_s, 0.5, amps.shape[1] + 0.5),
        vmin=-80,
        vmax=max(float(amps_db.max()), -60),
    )
    bottom.set_ylabel("harmonic")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, min(spec_s, trace_s))  # both pictures end where their content does
    grown = ": the growth" if engine.growth != "off" else ""
    bottom.set_title(f"harmonic amplitudes played (dB re full scale){grown}")
    fig.colorbar(growth, ax=bottom, label="dB re full scale", pad=0.01)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
