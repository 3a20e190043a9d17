"""Validation metrics of a reconstruction, as in the DDSP paper.

- spectral_distance: the multi-scale spectral loss at the fixed sizes METRIC_FFT_SIZES (so runs
  trained with different loss settings stay comparable).
- loudness_l1_db: mean |loudness(resynthesis) - loudness(original)| over all frames (dB);
  loudness_l1_voiced_db and loudness_l1_unvoiced_db: the same over the frames voiced in the
  original (the notes) and over the rest (rests, breaths, attacks), which tell a level that does
  not follow the playing from a rest that is not as quiet as the recording's.
- f0_l1_cents: mean |f0 error| in cents over frames voiced in both (same tracker as training).
- f0_outlier_ratio: fraction of frames voiced in the original where the resynthesis is unvoiced or
  more than 100 cents (a semitone) off.
"""

from __future__ import annotations

import numpy as np
import torch

from core.features import FeatureConfig, Features, a_weighted_loudness, track_f0
from trainer.crepe_f0 import track_f0_crepe
from trainer.losses import multiscale_spectral_loss

METRIC_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
OUTLIER_CENTS = 100.0


def spectral_distance(pred: np.ndarray, target: np.ndarray) -> float:
    """Multi-scale spectral distance between two mono signals [n] (same length)."""
    with torch.no_grad():
        value = multiscale_spectral_loss(
            torch.from_numpy(pred)[None], torch.from_numpy(target)[None], fft_sizes=METRIC_FFT_SIZES
        )
    return float(value)


def mean_or_nan(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else float("nan")


def reconstruction_metrics(
    pred: np.ndarray, target: Features, config: FeatureConfig
) -> dict[str, float]:
    """All metrics of `pred` [n] float32 against the original slice `target` (same length)."""
    n_frames = target.n_frames
    loud = a_weighted_loudness(pred, sample_rate=config.sample_rate, hop=config.hop)[:n_frames]
    f0_pred, voiced_pred = track_f0(pred, config, crepe=track_f0_crepe)
    f0_pred, voiced_pred = f0_pred[:n_frames], voiced_pred[:n_frames]
    both = target.voiced & voiced_pred & np.isfinite(f0_pred)
    cents = np.full(n_frames, np.inf)
    cents[both] = 1200.0 * np.abs(np.log2(f0_pred[both] / target.f0_hz[both]))
    n_voiced = int(target.voiced.sum())
    outliers = int(np.sum(target.voiced & (~both | (cents > OUTLIER_CENTS))))
    loudness_error = np.abs(loud - target.loudness_db)  # [n_frames] dB
    return {
        "spectral_distance": spectral_distance(pred, target.audio),
        "loudness_l1_db": float(np.mean(loudness_error)),
        "loudness_l1_voiced_db": mean_or_nan(loudness_error[target.voiced]),
        "loudness_l1_unvoiced_db": mean_or_nan(loudness_error[~target.voiced]),
        "f0_l1_cents": float(np.mean(cents[both])) if both.any() else float("nan"),
        "f0_outlier_ratio": outliers / n_voiced if n_voiced else float("nan"),
        "voiced_frames": float(n_voiced),
        "voiced_frames_pred": float(voiced_pred.sum()),
    }
