"""Training throughput: audio-seconds trained per wall-clock second, per decoder preset.

Beside the project's loop (batch 8 x 1 s segments, the default loss) it times, in the same run, a
naive seed-style loop: batch 1, the whole file every step, 4 FFT scales, the straightforward
oscillator bank (upsample every harmonic's amplitude to audio rate, multiply, sum) and nn.GRU as
it comes (not the trainer's compiled recurrence). Prints a table.

    python -m bench.train [--steps 12] [--rounds 3] [--threads 2]
    python -m bench.train --profile tiny   # where a step of the project's loop spends its time
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.seed_baseline import naive_harmonic_synth
from core.features import FeatureConfig, Features, silence_features
from trainer.controls import get_controls, scale_f0, scale_loudness
from trainer.dataset import SegmentDataset
from trainer.distributed import DistInfo
from trainer.dsp import filtered_noise, nyquist_mask
from trainer.example import example_audio_path
from trainer.feature_cache import default_cache_dir, load_features
from trainer.guard import NonFiniteGuard
from trainer.losses import multiscale_spectral_loss
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig, count_parameters
from trainer.models.presets import PRESETS
from trainer.run_dir import RunDir
from trainer.train import DDSPTrainer, TrainConfig


def time_steps(step: Callable[[], None], steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def project_trainer(features: Features, preset: str) -> DDSPTrainer:
    """The project's DDSP trainer with default settings on one file's features."""
    cfg = TrainConfig()
    data = SegmentDataset(
        [features],
        ["flute"],
        hop=240,
        segment_frames=100,
        silence=silence_features(100, FeatureConfig()),
    )
    model = DDSPAutoencoder(
        ModelConfig(preset=preset, loudness_mean=data.loudness_mean, loudness_std=data.loudness_std)
    )
    trainer = DDSPTrainer(
        model,
        data,
        cfg,
        RunDir(Path("unused")),
        device=torch.device("cpu"),
        dist_info=DistInfo(),
        log=print,
    )
    return trainer


def project_loop(features: Features, preset: str) -> tuple[Callable[[], None], float, int]:
    """(one step, audio seconds per step, parameters) of the project's loop."""
    trainer = project_trainer(features, preset)
    guard = NonFiniteGuard()

    def step() -> None:
        trainer.train_step(guard)

    cfg = trainer.config
    return step, cfg.batch_size * cfg.segment_seconds, count_parameters(trainer.model)


def profile_loop(features: Features, preset: str, steps: int) -> None:
    """Print the operators that take the project's training step's time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    trainer = project_trainer(features, preset)
    guard = NonFiniteGuard()
    for _ in range(2):
        trainer.train_step(guard)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            trainer.train_step(guard)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def naive_loop(features: Features, preset: str) -> tuple[Callable[[], None], float, int]:
    """(one step, audio seconds per step, parameters) of the naive loop: batch 1, the whole
    file per step, 4 FFT scales, naive oscillator bank, nn.GRU."""
    cfg = ModelConfig(
        preset=preset,
        loudness_mean=float(features.loudness_db.mean()),
        loudness_std=float(features.loudness_db.std()),
    )
    # Eval mode: nn.GRU as it comes, not the trainer's compiled recurrence (the seeds had none);
    # the modules have no dropout or batch statistics, so the function is the same.
    model = DDSPAutoencoder(cfg).eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    f0 = torch.from_numpy(features.f0_hz)[None]
    loud = torch.from_numpy(features.loudness_db)[None]
    mfcc = torch.from_numpy(features.mfcc)[None]
    audio = torch.from_numpy(features.audio)[None]

    def step() -> None:
        z = model.encoder(mfcc)
        raw, _ = model.decoder(
            scale_f0(f0), scale_loudness(loud, mean=cfg.loudness_mean, std=cfg.loudness_std), z
        )
        controls = get_controls(raw, f0, n_harmonics=cfg.n_harmonics, sample_rate=cfg.sample_rate)
        harmonic = naive_harmonic_synth(
            f0,
            controls.harmonic_amps * nyquist_mask(f0, cfg.n_harmonics, sample_rate=cfg.sample_rate),
            sample_rate=cfg.sample_rate,
            hop=cfg.hop,
        )
        noise = filtered_noise(controls.noise_mags, torch.rand_like(harmonic) * 2 - 1, hop=cfg.hop)
        loss = multiscale_spectral_loss(harmonic + noise, audio, fft_sizes=(2048, 1024, 512, 256))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, audio.shape[1] / cfg.sample_rate, count_parameters(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per loop and round")
    parser.add_argument("--rounds", type=int, default=3, help="each loop timed once a round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--profile", choices=PRESETS, help="profile this preset's step instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    features = load_features(example_audio_path(), FeatureConfig(), default_cache_dir())
    if args.profile:
        profile_loop(features, args.profile, args.steps)
        return
    loops = {f"project loop, {preset}": project_loop(features, preset) for preset in PRESETS}
    for preset in ("tiny", "seed"):
        loops[f"naive seed-style, {preset}"] = naive_loop(features, preset)
    # Every loop is timed once per round, the rounds one after another, and each loop's median
    # round is reported: a machine that slows down for a while slows every loop alike, so the
    # ratios stay fair.
    timings: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, (step, _, _) in loops.items():
            timings[name].append(time_steps(step, args.steps))
    print(
        f"\nTraining throughput on the example ({torch.get_num_threads()} threads, "
        f"{args.steps} timed steps each, median of {args.rounds} rounds, CPU)"
    )
    print(f"{'loop':28} {'params':>9} {'s/step':>8} {'audio s/step':>12} {'audio s/s':>9}")
    rates = {}
    for name, (_, audio_s, params) in loops.items():
        per_step = float(np.median(timings[name]))
        rates[name] = audio_s / per_step
        print(f"{name:28} {params:9d} {per_step:8.3f} {audio_s:12.2f} {rates[name]:9.1f}")
    for preset in ("tiny", "seed"):
        ratio = rates[f"project loop, {preset}"] / rates[f"naive seed-style, {preset}"]
        print(f"ratio project/naive ({preset}): {ratio:.2f}x")
    seeds_loop = rates["naive seed-style, seed"]
    print(
        f"ratio project (tiny) / naive seed-style on the seeds' model: "
        f"{rates['project loop, tiny'] / seeds_loop:.2f}x"
    )


if __name__ == "__main__":
    main()
