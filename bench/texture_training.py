"""Cost of one texture training step: the rule run on every cell (the exported, dense step)
against the rule run only on the cells that fire and live (`TextureNCA.step_fired`, the
trainer's path), both in one run on the same grids.

A step as `grow-train --phase texture` takes it: a batch of 4 grids of the default size (2 s
loop, 50 texture frames; 40 harmonic cells, as on a violin-range recording), grown 72 steps (the
middle of 48..96) with fresh fire masks, played through a DDSP synth against the bundled flute's
first 2 s, scored by the multi-scale spectral loss, then backpropagated. Two pools: grids at the
seed (early training, or a reseeded entry) and grids alive everywhere (a grown pool: the worst
case for the fired path). The rule has small random weights, so grids change as they grow.

    python -m bench.texture_training [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.features import FeatureConfig
from trainer.dataset import slice_frames
from trainer.example import example_audio_path
from trainer.feature_cache import default_cache_dir, load_features
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig
from trainer.models.texture_nca import TextureConfig, TextureNCA
from trainer.run_dir import RunDir
from trainer.texture_nca import draw_fire
from trainer.texture_train import TextureTrainConfig, TextureTrainer

GROW_STEPS = 72
BATCH = 4

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_trainer(scratch: Path) -> TextureTrainer:
    torch.manual_seed(0)
    texture = TextureNCA(TextureConfig(harmonic_cells=40))
    for layer in texture.rule:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.02)
    features = load_features(example_audio_path(), FeatureConfig(), default_cache_dir())
    ddsp = DDSPAutoencoder(ModelConfig())
    frames = texture.config.control_frames
    target = slice_frames(features, 0, frames, ddsp.config.hop)
    config = TextureTrainConfig(batch_size=BATCH)
    return TextureTrainer(
        texture, ddsp, target, config, RunDir(scratch), device=torch.device("cpu"), log=print
    )


def step_seconds(trainer: TextureTrainer, start: torch.Tensor, step: Step, repeats: int) -> float:
    """Median seconds of grow (72 steps) + loss + backward from `start` [4, C, T, F]."""
    c = trainer.texture.config
    times = []
    for repeat in range(repeats + 1):  # the first is a warm-up
        generator = torch.Generator().manual_seed(repeat)
        begin = time.perf_counter()
        states = start
        for _ in range(GROW_STEPS):
            fire = draw_fire(BATCH, c.frames, c.width, rate=c.fire_rate, generator=generator)
            states = step(states, fire)
        trainer.texture.zero_grad()
        trainer.loss_of(states).mean().backward()
        times.append(time.perf_counter() - begin)
    return float(np.median(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trainer = make_trainer(Path("unused"))
    texture = trainer.texture
    c = texture.config
    seed = texture.seed(BATCH)
    grown = seed.clone()
    levels = torch.rand(BATCH, c.frames, c.width, generator=torch.Generator().manual_seed(1))
    grown[:, 0] = 0.2 + 0.8 * levels  # every cell alive
    grown[..., c.harmonic_cells] = 0.0  # the wall
    print(
        f"\nTexture training step ({torch.get_num_threads()} threads; batch {BATCH}, "
        f"{GROW_STEPS} growth steps, {c.frames} x {c.width} cells, forward + backward)"
    )
    print("| pool | rule on every cell (s) | rule where it fires and lives (s) | speed-up |")
    print("|---|---:|---:|---:|")
    for name, start in (("at the seed", seed), ("alive everywhere", grown)):
        dense = step_seconds(trainer, start, texture, args.repeats)
        fired = step_seconds(trainer, start, texture.step_fired, args.repeats)
        print(f"| {name} | {dense:.3f} | {fired:.3f} | {dense / fired:.2f}x |")


if __name__ == "__main__":
    main()
