"""End-of-run report: validation metrics, WAVs, figures and per-file timbre presets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from core.atomic import atomic_path, write_json
from core.features import FeatureConfig, Features
from trainer.dataset import SegmentDataset
from trainer.metrics import reconstruction_metrics
from trainer.models.ddsp import DDSPAutoencoder, Synthesis
from trainer.plots import plot_loss_curve, plot_spectrograms
from trainer.run_dir import RunDir

GAP_SECONDS = 0.25


def write_wav(target: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Float32 [n] -> 24-bit WAV, atomically."""
    with atomic_path(target) as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_24", format="WAV")


@torch.no_grad()
def resynthesize(model: DDSPAutoencoder, part: Features, *, seed: int = 0) -> Synthesis:
    """Run the model over one whole slice (z from the slice's MFCCs), on the model's device."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    return model(
        torch.from_numpy(part.f0_hz)[None].to(device),
        torch.from_numpy(part.loudness_db)[None].to(device),
        torch.from_numpy(part.mfcc)[None].to(device),
        generator=generator,
    )


@torch.no_grad()
def timbre_presets(
    model: DDSPAutoencoder, features: list[Features], names: list[str]
) -> dict[str, list[float]]:
    """One z per training file: the encoder's output over the whole file."""
    device = next(model.parameters()).device
    return {
        name: model.encoder(torch.from_numpy(f.mfcc)[None].to(device))[0].cpu().tolist()
        for f, name in zip(features, names, strict=True)
    }


def _join(parts: list[np.ndarray], gap: int) -> np.ndarray:
    silence = np.zeros(gap, dtype=np.float32)
    joined: list[np.ndarray] = []
    for i, part in enumerate(parts):
        joined += [part.astype(np.float32)] + ([silence] if i < len(parts) - 1 else [])
    return np.concatenate(joined)


PICTURE_SECONDS = 4.0  # the spectrogram's length when the file is long enough


def write_picture(
    model: DDSPAutoencoder, dataset: SegmentDataset, sr: int, frame_rate: float, run: RunDir
) -> None:
    """spectrogram.png: the longest validation slice, lengthened to PICTURE_SECONDS by the
    training audio before it when it is shorter (a dashed line marks where validation
    starts), beside the model's reconstruction and its harmonic part."""
    longest = max(range(len(dataset.validation)), key=lambda i: dataset.validation[i].n_frames)
    excerpt, start = dataset.validation_excerpt(longest, round(PICTURE_SECONDS * frame_rate))
    synthesis = resynthesize(model, excerpt)
    where = "validation slice" if start == 0 else "training audio | validation slice"
    plot_spectrograms(
        [
            (f"original ({where})", excerpt.audio),
            ("reconstruction", synthesis.audio[0].float().cpu().numpy()),
            ("harmonic part", synthesis.harmonic[0].float().cpu().numpy()),
        ],
        sample_rate=sr,
        target=run.spectrogram,
        marker_s=start / frame_rate,
    )


def write_report(
    model: DDSPAutoencoder,
    dataset: SegmentDataset,
    features: list[Features],
    feature_config: FeatureConfig,
    run: RunDir,
    summary: dict[str, Any],
    history: dict[str, list[float]],
) -> dict[str, Any]:
    """Evaluate on the validation slices, write every report file, return the metrics dict."""
    model.eval()
    sr = feature_config.sample_rate
    per_file: dict[str, dict[str, float]] = {}
    outputs: dict[str, list[np.ndarray]] = {"reconstruction": [], "harmonic": [], "noise": []}
    targets: list[np.ndarray] = []
    for name, part in zip(dataset.validation_names, dataset.validation, strict=True):
        synthesis = resynthesize(model, part)
        audio = synthesis.audio[0].float().cpu().numpy()
        per_file[name] = reconstruction_metrics(audio, part, feature_config)
        outputs["reconstruction"].append(audio)
        outputs["harmonic"].append(synthesis.harmonic[0].float().cpu().numpy())
        outputs["noise"].append(synthesis.noise[0].float().cpu().numpy())
        targets.append(part.audio)
    metric_names = ("spectral_distance", "loudness_l1_db", "f0_l1_cents", "f0_outlier_ratio")
    validation = (
        {key: float(np.nanmean([m[key] for m in per_file.values()])) for key in metric_names}
        if per_file
        else {}
    )
    metrics = {**summary, "validation": validation, "validation_per_file": per_file}
    write_json(run.metrics, metrics)
    write_json(run.presets, timbre_presets(model, features, dataset.names))
    plot_loss_curve(history, run.loss_curve)
    if targets:
        gap = int(GAP_SECONDS * sr)
        for key, parts in outputs.items():
            write_wav(run.wav(key), _join(parts, gap), sr)
        write_wav(run.wav("target"), _join(targets, gap), sr)
        write_picture(model, dataset, sr, feature_config.frame_rate, run)
    return metrics
