"""The CREPE pitch tracker (optional: torchcrepe, whose weights ship in its wheel), for
FeatureConfig(f0_tracker="crepe"). It needs torch, so it lives here and core's feature
extraction receives it as an argument (core.features.track_f0's `crepe`)."""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError
from core.features import FeatureConfig


def track_f0_crepe(audio: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """CREPE through torchcrepe (optional; its weights ship in its wheel)."""
    try:
        import torch
        import torchcrepe
    except ImportError:
        raise ParameterError(
            "f0_tracker='crepe' needs torchcrepe: pip install --no-deps torchcrepe resampy"
        ) from None
    import librosa

    crepe_rate = 16000
    audio16 = librosa.resample(audio, orig_sr=config.sample_rate, target_sr=crepe_rate)
    hop16 = config.hop * crepe_rate / config.sample_rate
    if hop16 != int(hop16):
        raise ParameterError(
            f"hop={config.hop} at {config.sample_rate} Hz is not a whole number of samples at "
            "CREPE's 16 kHz"
        )
    f0, periodicity = torchcrepe.predict(
        torch.from_numpy(audio16)[None],
        crepe_rate,
        int(hop16),
        config.f0_min_hz,
        config.f0_max_hz,
        model="full",
        return_periodicity=True,
        batch_size=512,
        device="cpu",
    )
    f0_np = f0[0].numpy().astype(np.float32)
    voiced = periodicity[0].numpy() > 0.5
    return np.where(voiced, f0_np, np.nan).astype(np.float32), voiced
