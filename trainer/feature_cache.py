"""On-disk cache of per-file features, keyed by the file's content and the feature settings."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.audio import load_audio
from core.errors import AudioFileError
from core.features import FeatureConfig, Features, compute_features
from trainer.crepe_f0 import track_f0_crepe

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/timbre-grower/features (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "timbre-grower" / "features"


def cache_key(path: Path, config: FeatureConfig) -> str:
    """sha256 over the file's bytes, the feature settings and the cache format."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(config.key().encode())
    digest.update(f"format={CACHE_FORMAT}".encode())
    return digest.hexdigest()


def _read_cached(cached: Path) -> Features | None:
    try:
        with np.load(cached) as data:
            return Features(**{name: data[name] for name in Features.__dataclass_fields__})
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # unreadable entry: recompute and overwrite it


def load_features(path: Path, config: FeatureConfig, cache_dir: Path | None) -> Features:
    """Features of one file, from the cache when present. Errors name the file."""
    key = cache_key(path, config) if cache_dir is not None else ""
    cached = cache_dir / f"{key}.npz" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        hit = _read_cached(cached)
        if hit is not None:
            return hit
    audio = load_audio(path, sample_rate=config.sample_rate)
    try:
        features = compute_features(audio, config, crepe=track_f0_crepe)
    except AudioFileError as err:
        raise AudioFileError(f"{path}: {err}") from None
    if cached is not None:
        with atomic_path(cached, make_parents=True) as tmp:
            np.savez(
                tmp, **{name: getattr(features, name) for name in Features.__dataclass_fields__}
            )
    return features


def load_all_features(
    paths: Sequence[Path], config: FeatureConfig, *, cache_dir: Path | None, progress: bool = True
) -> list[Features]:
    """Features of every file, with progress over files (trainer.progress: a bar on a terminal,
    plain lines every 10 s otherwise)."""
    from trainer.progress import Progress

    shown = Progress(
        "features",
        total_steps=len(paths),
        initial_step=0,
        minutes=None,
        enabled=progress,
        every_s=10.0,
        unit="file",
    )
    features = []
    for done, path in enumerate(paths, start=1):
        features.append(load_features(path, config, cache_dir))
        shown.update(done)
    shown.close()
    return features
