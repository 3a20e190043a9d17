"""Phase 2: train the harmonic NCA with the DDSP model frozen.

Each step grows a batch of states (drawn from a sample pool) for a random number of steps, reads
their masks, synthesizes training segments with the masked harmonic distribution and scores them
with the multi-scale spectral loss against the real audio. The pool keeps grown states so that a
grown mask learns to stay stable when stepped further; the worst pool entry is reseeded every
step, and the best few are damaged (cells zeroed) so that the NCA learns to regrow.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainer.dataset import SegmentDataset
from trainer.guard import NonFiniteGuard
from trainer.losses import multiscale_spectral_loss
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.nca import HarmonicNCA
from trainer.nca import draw_fire
from trainer.pool_trainer import PoolTrainer, check_pool_settings
from trainer.run_dir import RunDir
from trainer.train import DEFAULT_FFT_SIZES, to_tensors


@dataclass(frozen=True)
class NCATrainConfig:
    steps: int = 2000
    batch_size: int = 8
    pool_size: int = 128
    min_grow_steps: int = 32
    max_grow_steps: int = 64
    damaged_per_batch: int = 2  # pool entries damaged before each step
    damage_fraction: float = 0.5  # of the cells (never the seed cells)
    learning_rate: float = 2e-3
    lr_decay_rate: float = 0.5
    lr_decay_steps: int = 2000
    grad_clip: float = 1.0
    overflow_weight: float = 1.0  # keeps states in [-1, 1] (channel 0 in [0, 1])
    peak_weight: float = 1.0  # keeps the mask's largest value at 1 (see peak_penalty)
    fft_sizes: tuple[int, ...] = DEFAULT_FFT_SIZES
    checkpoint_every: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        check_pool_settings(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def overflow_penalty(state: torch.Tensor) -> torch.Tensor:
    """Mean amount by which channel 0 leaves [0, 1] and the other channels leave [-1, 1]."""
    mask_channel = state[:, :1]
    hidden = state[:, 1:]
    over = (mask_channel - mask_channel.clamp(0.0, 1.0)).abs().mean()
    return over + (hidden - hidden.clamp(-1.0, 1.0)).abs().mean()


def peak_penalty(mask: torch.Tensor) -> torch.Tensor:
    """Mean (1 - max_k m[k])^2 over the batch. mask: [batch, K].

    The harmonic distribution is normalised after masking, so the loss alone cannot see the
    mask's overall scale: left free it drifts down until every cell falls below the alive
    threshold and the automaton dies. Holding the peak at 1 also makes the mask readable
    (1 = the harmonic fully present).
    """
    return ((1.0 - mask.amax(dim=1)) ** 2).mean()


def damage(
    state: torch.Tensor, *, fraction: float, protected: int, rng: np.random.Generator
) -> torch.Tensor:
    """Zero a random `fraction` of the cells beyond the first `protected` (the seed), all
    channels. state: [batch, C, K] -> damaged copy."""
    batch, _, n_cells = state.shape
    keep = torch.ones(batch, 1, n_cells, dtype=state.dtype)
    candidates = n_cells - protected
    n_hit = round(fraction * candidates)
    for b in range(batch):
        hit = protected + rng.choice(candidates, size=n_hit, replace=False)
        keep[b, 0, torch.from_numpy(hit)] = 0.0
    return state * keep.to(state.device)


class NCATrainer(PoolTrainer):
    """Trains a HarmonicNCA against a frozen DDSPAutoencoder; writes nca.pt in the run."""

    name = "nca"

    def __init__(
        self,
        nca: HarmonicNCA,
        ddsp: DDSPAutoencoder,
        dataset: SegmentDataset,
        config: NCATrainConfig,
        run: RunDir,
        *,
        device: torch.device,
        log: Any,
    ) -> None:
        super().__init__(
            nca.to(device),
            nca.config.to_dict(),
            nca.seed(config.pool_size).to(device),  # [pool, C, K]
            run.nca_checkpoint,
            config,
            stream=2,
            log=log,
        )
        self.nca = nca
        self.ddsp = ddsp.to(device).eval()
        for p in self.ddsp.parameters():
            p.requires_grad_(False)
        self.dataset = dataset
        self.config = config
        self.device = device

    def sample_pool(self) -> tuple[np.ndarray, torch.Tensor]:
        """Indices into the pool and their states: the worst reseeded, the best damaged."""
        cfg = self.config
        index = self.rng.choice(cfg.pool_size, size=cfg.batch_size, replace=False)
        order = np.argsort(-self.pool_loss[index])  # worst first
        index = index[order]
        states = self.pool[index].clone()
        states[:1] = self.nca.seed(1)
        n_damaged = cfg.damaged_per_batch
        if n_damaged:
            states[-n_damaged:] = damage(
                states[-n_damaged:],
                fraction=cfg.damage_fraction,
                protected=self.nca.config.seed_harmonics,
                rng=self.rng,
            )
        return index, states

    def train_step(self, guard: NonFiniteGuard) -> float:
        cfg = self.config
        batch = to_tensors(self.dataset.sample(self.rng, cfg.batch_size), self.device)
        with torch.no_grad():
            z = self.ddsp.encoder(batch["mfcc"])
            raw, _ = self.ddsp.decode_raw(batch["f0_hz"], batch["loudness_db"], z)
        index, states = self.sample_pool()
        n_steps = int(self.rng.integers(cfg.min_grow_steps, cfg.max_grow_steps + 1))
        overflow = states.new_zeros(())
        for _ in range(n_steps):
            fire = draw_fire(
                cfg.batch_size,
                self.nca.config.n_harmonics,
                rate=self.nca.config.fire_rate,
                generator=self.generator,
            ).to(self.device)
            states = self.nca(states, fire)
            overflow = overflow + overflow_penalty(states) / n_steps
        mask = states[:, 0].clamp(0.0, 1.0)
        controls = self.ddsp.physical_controls(raw, batch["f0_hz"], batch["loudness_db"], mask=mask)
        audio = self.ddsp.synthesize(controls, batch["f0_hz"]).audio
        per_item = multiscale_spectral_loss(
            audio, batch["audio"], fft_sizes=cfg.fft_sizes, per_item=True
        )
        loss = (
            per_item.mean() + cfg.overflow_weight * overflow + cfg.peak_weight * peak_penalty(mask)
        )
        loss_value = self.optimize(loss, guard)
        if not math.isnan(loss_value):
            self.keep(index, states, per_item)
        return loss_value
