"""z from a recording's own MFCCs: the artifact's timbre encoder (the trainer's autoencoder
path), run once over a whole input by onnxruntime. Used by `grow-render --timbre input`."""

from __future__ import annotations

import numpy as np

from export.contract import ArtifactError, ArtifactMetadata
from realtime.model import embedded_session


def has_encoder(meta: ArtifactMetadata) -> bool:
    return bool(meta.encoder_onnx)


def encode_timbre(meta: ArtifactMetadata, mfcc: np.ndarray) -> np.ndarray:
    """mfcc: [T, n_mfcc] float32 frame MFCCs (core.features, the model's settings).
    Returns z [Z] float32. ArtifactError when the artifact carries no encoder."""
    if not meta.encoder_onnx:
        raise ArtifactError(
            "this model carries no timbre encoder (exported before format 2): choose a preset "
            f"with --timbre ({', '.join(meta.presets)}) or re-export the run"
        )
    session = embedded_session(meta.encoder_onnx, "timbre encoder")
    (z,) = session.run(["z"], {"mfcc": np.ascontiguousarray(mfcc[None], np.float32)})
    if z.shape != (1, meta.z_dim) or not np.all(np.isfinite(z)):
        raise ArtifactError(f"the model's timbre encoder gave z of shape {list(z.shape)}")
    return z[0].astype(np.float32)
