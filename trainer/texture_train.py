"""Phase 3: train the texture NCA to grow a stretch of the recording in DDSP control space.

The target is one stretch of the training audio as long as the texture's loop (2 s by default,
`choose_stretch`). Each step grows a batch of grids drawn from a sample pool for a random number of
steps, turns them into synth controls (trainer.texture_nca.texture_controls) played with the
stretch's own f0 and loudness, synthesizes them with the run's DDSP synth (and reverb, if it has
one) and scores the audio by the multi-scale spectral loss against the recording: the audio-domain
loss the seeds' spectrogram NCA lacked. The DDSP decoder is not used: the texture takes its place
(it sets the harmonic distribution and the noise bands), so nothing of the DDSP model is trained.

As in the harmonic NCA's phase, the pool keeps grown grids so that a grown texture learns to stay
put when stepped on; the worst entry of a batch is reseeded and the best few are damaged (a random
region of frames x cells zeroed, `damage_region`) so that the NCA learns to regrow.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.errors import AudioFileError, ParameterError
from core.features import Features
from trainer.dataset import SegmentDataset, slice_frames
from trainer.guard import NonFiniteGuard
from trainer.losses import multiscale_spectral_loss
from trainer.models.ddsp import DDSPAutoencoder
from trainer.models.texture_nca import TextureNCA
from trainer.nca_train import overflow_penalty
from trainer.pool_trainer import PoolTrainer, check_pool_settings
from trainer.run_dir import RunDir
from trainer.texture_nca import draw_fire
from trainer.train import DEFAULT_FFT_SIZES


@dataclass(frozen=True)
class TextureTrainConfig:
    steps: int = 1000
    batch_size: int = 4
    pool_size: int = 32
    min_grow_steps: int = 48
    max_grow_steps: int = 96  # the seeds' 96 steps
    damaged_per_batch: int = 1  # pool entries damaged before each step
    learning_rate: float = 2e-3
    lr_decay_rate: float = 0.3
    lr_decay_steps: int = 1000
    grad_clip: float = 1.0
    overflow_weight: float = 1.0  # keeps states in [-1, 1] (channel 0 in [0, 1])
    fft_sizes: tuple[int, ...] = DEFAULT_FFT_SIZES
    checkpoint_every: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        check_pool_settings(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Stretch:
    """Where the texture's target lies: training file `file`, control frames from `start`."""

    file: int
    start: int
    frames: int

    def features(self, dataset: SegmentDataset) -> Features:
        """The stretch's features and audio (from the file's training part)."""
        return slice_frames(
            dataset.train[self.file], self.start, self.start + self.frames, dataset.hop
        )


def choose_stretch(
    dataset: SegmentDataset, frames: int, *, start: int | None = None, file: int = 0
) -> Stretch:
    """The target stretch of `frames` control frames: from `start` in training file `file` when
    given, else the stretch of any training file with the most voiced frames (ties: the loudest
    by mean loudness), searched every 10 frames: steady playing, not a rest or an attack."""
    lengths = [f.n_frames for f in dataset.train]
    if start is not None:
        if not 0 <= file < len(lengths):
            raise ParameterError(f"texture file {file} is not one of the {len(lengths)} files")
        if not 0 <= start <= lengths[file] - frames:
            raise AudioFileError(
                f"{dataset.names[file]}: a {frames}-frame texture stretch from frame {start} "
                f"does not fit in its {lengths[file]} training frames"
            )
        return Stretch(file, start, frames)
    best: tuple[float, float, int, int] | None = None
    for index, feats in enumerate(dataset.train):
        if feats.n_frames < frames:
            continue
        voiced = np.concatenate([[0], np.cumsum(feats.voiced)])
        loud = np.concatenate([[0.0], np.cumsum(feats.loudness_db, dtype=np.float64)])
        for first in range(0, feats.n_frames - frames + 1, 10):
            stop = first + frames
            key = (float(voiced[stop] - voiced[first]), (loud[stop] - loud[first]) / frames)
            if best is None or key > best[:2]:
                best = (*key, index, first)
    if best is None:
        raise AudioFileError(
            f"no training file holds a {frames}-frame texture stretch; give a longer recording "
            "or a shorter --texture-seconds"
        )
    return Stretch(best[2], best[3], frames)


def damage_region(
    state: torch.Tensor, *, frames: tuple[int, int], cells: tuple[int, int], harmonic_cells: int
) -> torch.Tensor:
    """Zero every channel of cells [cells[0], cells[1]) in the `frames[1]` frames from
    `frames[0]` (circular in time), except the seed cells (harmonic 0 and the lowest noise band)
    from which the texture regrows. state: [batch, C, T, F] -> a damaged copy."""
    _, _, n_frames, width = state.shape
    start, length = frames
    hit = torch.zeros(n_frames, width, dtype=torch.bool, device=state.device)
    rows = (start + torch.arange(length, device=state.device)) % n_frames
    hit[rows, cells[0] : cells[1]] = True
    hit[:, 0] = hit[:, harmonic_cells + 1] = False
    return state * (~hit).to(state.dtype)


def random_region(
    rng: np.random.Generator, n_frames: int, width: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """A random damage region ((first frame, frame count), (first cell, end cell)): a quarter to
    a half of the loop in time, at least a quarter of the cells."""
    length = int(rng.integers(max(1, n_frames // 4), max(1, n_frames // 2) + 1))
    start = int(rng.integers(0, n_frames))
    low = int(rng.integers(0, width - width // 4))
    high = int(rng.integers(low + max(1, width // 4), width + 1))
    return (start, length), (low, high)


class TextureTrainer(PoolTrainer):
    """Trains a TextureNCA to grow one stretch of the recording; writes texture.pt in the run."""

    name = "texture"

    def __init__(
        self,
        texture: TextureNCA,
        ddsp: DDSPAutoencoder,
        target: Features,
        config: TextureTrainConfig,
        run: RunDir,
        *,
        device: torch.device,
        log: Any,
    ) -> None:
        if target.n_frames != texture.config.control_frames:
            raise ParameterError(
                f"the target has {target.n_frames} frames, the texture's loop "
                f"{texture.config.control_frames}"
            )
        super().__init__(
            texture.to(device),
            texture.config.to_dict(),
            texture.seed(config.pool_size).to(device),  # [pool, C, T, F]
            run.texture_checkpoint,
            config,
            stream=3,
            log=log,
        )
        self.texture = texture
        self.ddsp = ddsp.to(device).eval()
        for p in self.ddsp.parameters():
            p.requires_grad_(False)
        self.config = config
        self.device = device
        self.f0_hz = torch.from_numpy(target.f0_hz)[None].to(device)  # [1, T']
        self.loudness_db = torch.from_numpy(target.loudness_db)[None].to(device)
        self.audio = torch.from_numpy(target.audio)[None].to(device)  # [1, T' * hop]

    def sample_pool(self) -> tuple[np.ndarray, torch.Tensor]:
        """Indices into the pool and their grids: the worst reseeded, the best damaged."""
        cfg, tex = self.config, self.texture.config
        index = self.rng.choice(cfg.pool_size, size=cfg.batch_size, replace=False)
        index = index[np.argsort(-self.pool_loss[index])]  # worst first
        states = self.pool[index].clone()
        states[:1] = self.texture.seed(1)
        for row in range(cfg.batch_size - cfg.damaged_per_batch, cfg.batch_size):
            frames, cells = random_region(self.rng, tex.frames, tex.width)
            states[row : row + 1] = damage_region(
                states[row : row + 1], frames=frames, cells=cells, harmonic_cells=tex.harmonic_cells
            )
        return index, states

    def grow(self, states: torch.Tensor, n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n_steps steps with fresh fire masks: (grids, mean overflow penalty over the steps)."""
        tex = self.texture.config
        overflow = states.new_zeros(())
        for _ in range(n_steps):
            fire = draw_fire(
                states.shape[0], tex.frames, tex.width, rate=tex.fire_rate, generator=self.generator
            )
            states = self.texture.step_fired(states, fire.to(self.device))
            overflow = overflow + overflow_penalty(states) / n_steps
        return states, overflow

    def loss_of(self, states: torch.Tensor) -> torch.Tensor:
        """Multi-scale spectral loss per grid [batch] of its audio against the recording."""
        batch = states.shape[0]
        f0 = self.f0_hz.expand(batch, -1)
        controls = self.texture.controls(
            states,
            f0,
            self.loudness_db.expand(batch, -1),
            sample_rate=self.ddsp.config.sample_rate,
            noise_gram=self.ddsp.noise_gram,
        )
        audio = self.ddsp.synthesize(controls, f0).audio
        return multiscale_spectral_loss(
            audio, self.audio.expand(batch, -1), fft_sizes=self.config.fft_sizes, per_item=True
        )

    def train_step(self, guard: NonFiniteGuard) -> float:
        cfg = self.config
        index, states = self.sample_pool()
        n_steps = int(self.rng.integers(cfg.min_grow_steps, cfg.max_grow_steps + 1))
        states, overflow = self.grow(states, n_steps)
        per_item = self.loss_of(states)
        loss_value = self.optimize(per_item.mean() + cfg.overflow_weight * overflow, guard)
        if not math.isnan(loss_value):
            self.keep(index, states, per_item)
        return loss_value
