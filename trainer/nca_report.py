"""Phase 2 report: how the NCA grows the timbre, measured and made audible.

Distances are the fixed multi-scale spectral distance (trainer.metrics) on the validation slices,
between the synthesis with the NCA's mask and the unmasked model's synthesis (same noise):
- distance_seed / distance_grown: at the seed (fundamental alone) and after 2 x max_grow_steps.
- steps_to_10pct: the first step at which the distance is within 10% of its seed value.
- distance_regrown: after 50% of the grown cells are zeroed and the NCA runs 2 x max_grow_steps.
- growth order: `order_correlation` is Spearman's rank correlation between the harmonic number
  and the step at which its mask first reaches 0.5 (1 = strictly low harmonics first);
  `centroid_monotonic_fraction` is the fraction of steps where the mask's harmonic centroid does
  not fall by more than 0.05 harmonics (1 = no flicker back).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.atomic import write_json
from core.features import Features
from core.growth import FIXED_STRATEGIES, stage_mask
from trainer.dataset import SegmentDataset
from trainer.metrics import spectral_distance
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.nca import HarmonicNCA
from trainer.nca import read_mask
from trainer.nca_train import NCATrainConfig, damage
from trainer.plots import plot_growth_heatmap
from trainer.report import write_wav
from trainer.run_dir import RunDir

NOISE_SEED = 0


def mask_trajectory(
    nca: HarmonicNCA, start: torch.Tensor, steps: int, *, seed: int
) -> tuple[np.ndarray, torch.Tensor]:
    """Masks after 0..steps steps from `start` [1, C, K]: ([steps + 1, K], final state)."""
    with torch.no_grad():
        states = nca.grow(start, steps, generator=torch.Generator().manual_seed(seed))
    masks = torch.cat([read_mask(s) for s in states]).cpu().numpy()
    return masks, states[-1]


@torch.no_grad()
def masked_audio(
    ddsp: DDSPAutoencoder, part: Features, masks: np.ndarray, *, chunk: int = 16
) -> np.ndarray:
    """Synthesis of one validation slice under each mask: [n_masks, n_samples] (same noise)."""
    f0 = torch.from_numpy(part.f0_hz)[None]
    z = ddsp.encoder(torch.from_numpy(part.mfcc)[None])
    loudness = torch.from_numpy(part.loudness_db)[None]
    raw, _ = ddsp.decode_raw(f0, loudness, z)
    out = []
    for start in range(0, masks.shape[0], chunk):
        m = torch.from_numpy(masks[start : start + chunk])
        n = m.shape[0]
        controls = ddsp.physical_controls(
            raw.expand(n, -1, -1), f0.expand(n, -1), loudness.expand(n, -1), mask=m
        )
        generator = torch.Generator().manual_seed(NOISE_SEED)
        noise = torch.rand(1, part.audio.shape[0], generator=generator) * 2 - 1
        synthesis = ddsp.synthesize_with_noise(controls, f0.expand(n, -1), noise.expand(n, -1))
        out.append(synthesis.audio.numpy())
    return np.concatenate(out)


def distances_to_unmasked(
    ddsp: DDSPAutoencoder, parts: list[Features], masks: np.ndarray
) -> np.ndarray:
    """[n_masks] mean over validation slices of the distance to the unmasked synthesis."""
    ones = np.ones((1, masks.shape[1]), dtype=np.float32)
    total = np.zeros(masks.shape[0])
    for part in parts:  # one decoder pass per slice: the all-ones mask first, as the reference
        reference, *audio = masked_audio(
            ddsp, part, np.concatenate([ones, masks]).astype(np.float32)
        )
        total += [spectral_distance(a, reference) for a in audio]
    return total / max(1, len(parts))


def growth_order(masks: np.ndarray) -> dict[str, float]:
    """Order correlation and centroid monotonicity of a mask trajectory [steps + 1, K]."""
    from scipy.stats import spearmanr

    reached = masks >= 0.5
    grown = np.flatnonzero(reached.any(axis=0))
    first = reached[:, grown].argmax(axis=0)
    if grown.size > 2 and np.ptp(first) > 0:
        correlation = float(spearmanr(grown, first).statistic)
    else:
        correlation = float("nan")
    k = np.arange(1, masks.shape[1] + 1)
    centroid = (masks * k).sum(axis=1) / np.maximum(masks.sum(axis=1), 1e-9)
    return {
        "order_correlation": correlation,
        "centroid_monotonic_fraction": float(np.mean(np.diff(centroid) >= -0.05)),
        "harmonics_grown": float(grown.size),
    }


def held_note(ddsp: DDSPAutoencoder, dataset: SegmentDataset) -> tuple[float, float, torch.Tensor]:
    """A typical sustained note of the training data: (f0 Hz, loudness dB, z [1, Z])."""
    f0 = float(np.median(np.concatenate([f.f0_hz[f.voiced] for f in dataset.train])))
    loud = float(np.percentile(np.concatenate([f.loudness_db for f in dataset.train]), 75))
    with torch.no_grad():
        z = ddsp.encoder(torch.from_numpy(dataset.train[0].mfcc)[None])
    return f0, loud, z


def adsr(n: int, sample_rate: int) -> np.ndarray:
    """Attack 20 ms, decay 80 ms to 0.8, release 100 ms: [n] float32."""
    a, d, r = (int(x * sample_rate) for x in (0.02, 0.08, 0.1))
    s = max(0, n - a - d - r)
    env = np.concatenate(
        [
            np.linspace(0, 1, a, endpoint=False),
            np.linspace(1, 0.8, d, endpoint=False),
            np.full(s, 0.8),
            np.linspace(0.8, 0, r),
        ]
    )
    return env[:n].astype(np.float32)


@torch.no_grad()
def render_note(
    ddsp: DDSPAutoencoder,
    f0: float,
    loud: float,
    z: torch.Tensor,
    masks: torch.Tensor,
    n_frames: int,
) -> np.ndarray:
    """A held note per mask. masks: [batch, K] or [1, T, K] -> audio [batch, T * hop]."""
    batch = masks.shape[0]
    f0_t = torch.full((batch, n_frames), f0)
    loud_t = torch.full((batch, n_frames), loud)
    raw, _ = ddsp.decode_raw(f0_t, loud_t, z.expand(batch, -1))
    controls = ddsp.physical_controls(raw, f0_t, loud_t, mask=masks)
    generator = torch.Generator().manual_seed(NOISE_SEED)
    return ddsp.synthesize(controls, f0_t, generator=generator).audio.numpy()


def stage_preview(
    ddsp: DDSPAutoencoder,
    note: tuple[float, float, torch.Tensor],
    masks: np.ndarray,
    *,
    stage_seconds: float = 0.5,
    gap_seconds: float = 0.2,
) -> np.ndarray:
    """The seeds' discrete grower: one ADSR'd held note per stage mask, silence between."""
    sr, hop = ddsp.config.sample_rate, ddsp.config.hop
    n_frames = round(stage_seconds * sr / hop)
    notes = render_note(ddsp, *note, torch.from_numpy(masks.astype(np.float32)), n_frames)
    notes *= adsr(notes.shape[1], sr)
    gap = np.zeros((notes.shape[0], round(gap_seconds * sr)), dtype=np.float32)
    return np.concatenate([notes, gap], axis=1).reshape(-1)


def continuous_preview(
    ddsp: DDSPAutoencoder,
    nca: HarmonicNCA,
    note: tuple[float, float, torch.Tensor],
    *,
    seconds: float = 8.0,
    steps_per_second: float = 12.0,
) -> np.ndarray:
    """One sustained note while the NCA grows from the seed at `steps_per_second`."""
    sr, hop = ddsp.config.sample_rate, ddsp.config.hop
    n_frames = round(seconds * sr / hop)
    total_steps = int(seconds * steps_per_second)
    masks, _ = mask_trajectory(nca, nca.seed(1), total_steps, seed=1)
    step_of_frame = np.minimum(
        (np.arange(n_frames) * hop / sr * steps_per_second).astype(int), total_steps
    )
    frame_masks = torch.from_numpy(masks[step_of_frame][None].astype(np.float32))  # [1, T, K]
    audio = render_note(ddsp, *note, frame_masks, n_frames)[0]
    return audio * adsr(audio.shape[0], sr)


def limit_peak(audio: np.ndarray, *, peak: float = 0.89) -> np.ndarray:
    """Scale the whole signal down (never up) so that its peak is at most `peak` (-1 dBFS)."""
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio * (peak / top) if top > peak else audio


def write_nca_report(
    nca: HarmonicNCA,
    ddsp: DDSPAutoencoder,
    dataset: SegmentDataset,
    config: NCATrainConfig,
    run: RunDir,
    summary: dict[str, Any],
    *,
    n_stages: int = 32,
) -> dict[str, Any]:
    """Measure growth and regrowth, write nca_metrics.json, the heatmap and the previews."""
    nca, ddsp = nca.cpu().eval(), ddsp.cpu().eval()
    horizon = 2 * config.max_grow_steps
    growth, grown = mask_trajectory(nca, nca.seed(1), horizon, seed=0)
    damaged = damage(
        grown, fraction=0.5, protected=nca.config.seed_harmonics, rng=np.random.default_rng(0)
    )
    regrowth, _ = mask_trajectory(nca, damaged, horizon, seed=2)
    parts = dataset.validation or [dataset.train[0]]
    dist = distances_to_unmasked(ddsp, parts, growth)
    regrown = distances_to_unmasked(ddsp, parts, regrowth[[0, -1]])
    within = np.flatnonzero(dist <= 0.1 * dist[0])
    metrics = {
        **summary,
        "distance_seed": float(dist[0]),
        "distance_grown": float(dist[-1]),
        "steps_to_10pct": int(within[0]) if within.size else None,
        "distance_damaged": float(regrown[0]),
        "distance_regrown": float(regrown[1]),
        "distance_curve": [float(d) for d in dist],
        **growth_order(growth),
        "horizon_steps": horizon,
    }
    write_json(run.nca_metrics, metrics)
    plot_growth_heatmap(growth, regrowth, target=run.growth_heatmap)
    note = held_note(ddsp, dataset)
    sr = ddsp.config.sample_rate
    stage_steps = np.round(np.linspace(0, config.max_grow_steps, n_stages)).astype(int)
    nca_preview = stage_preview(ddsp, note, growth[stage_steps])
    write_wav(run.growth_preview("nca"), limit_peak(nca_preview), sr)
    for strategy in FIXED_STRATEGIES:
        masks = np.stack(
            [stage_mask(strategy, s, n_stages, nca.config.n_harmonics) for s in range(n_stages)]
        )
        write_wav(run.growth_preview(strategy), limit_peak(stage_preview(ddsp, note, masks)), sr)
    write_wav(run.growth_continuous, limit_peak(continuous_preview(ddsp, nca, note)), sr)
    return metrics
