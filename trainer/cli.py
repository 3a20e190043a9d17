"""`grow-train AUDIO_OR_DIR... --out RUN_DIR`: learn an instrument's timbre (DDSP phase).

Errors the user can fix are printed as one line (no traceback) with exit code 2; a run stopped by
Ctrl-C or SIGTERM saves its checkpoint and exits with 130; `--resume` continues it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.errors import GrowError, ParameterError, TrainingError
from trainer.features import F0_TRACKERS
from trainer.models.presets import PRESETS

DEFAULT_STEPS = 10000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grow-train",
        description="Learn the timbre of a monophonic instrument from recordings (DDSP phase).",
    )
    p.add_argument("inputs", nargs="*", help="audio files or folders (searched recursively)")
    p.add_argument("--out", required=True, type=Path, help="run directory to create or resume")
    p.add_argument("--example", action="store_true", help="add the bundled flute recording")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    budget = p.add_argument_group("budget")
    budget.add_argument(
        "--steps", type=int, help=f"total optimiser steps (default {DEFAULT_STEPS})"
    )
    budget.add_argument(
        "--minutes", type=float, help="stop after this many minutes of this session"
    )
    model = p.add_argument_group("model")
    model.add_argument("--preset", default="tiny", choices=list(PRESETS))
    model.add_argument("--sample-rate", type=int, default=24000, help="model rate in Hz")
    model.add_argument("--hop", type=int, default=240, help="samples per control frame")
    model.add_argument("--harmonics", type=int, default=64)
    model.add_argument("--noise-bands", type=int, default=64)
    model.add_argument("--z-dim", type=int, default=16)
    model.add_argument(
        "--reverb",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="learn a reverb impulse response this long (0 = none)",
    )
    feats = p.add_argument_group("features")
    feats.add_argument("--f0-tracker", default="pyin", choices=list(F0_TRACKERS))
    feats.add_argument("--f0-min", type=float, default=50.0, help="Hz")
    feats.add_argument("--f0-max", type=float, default=2000.0, help="Hz")
    feats.add_argument("--cache-dir", type=Path, help="feature cache (default: ~/.cache/...)")
    feats.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    train = p.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--segment-seconds", type=float, default=1.0)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument(
        "--fft-sizes",
        default="2048,1024,256,64",
        help="comma-separated FFT sizes of the spectral loss",
    )
    train.add_argument("--log-weight", type=float, default=1.0)
    train.add_argument("--time-l1", type=float, default=0.0, help="weight of a waveform L1 term")
    train.add_argument("--checkpoint-every", type=int, default=200, help="steps")
    train.add_argument(
        "--val-fraction", type=float, default=0.1, help="held-out tail of every file"
    )
    train.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def parse_fft_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ParameterError(f"--fft-sizes={text!r} must be comma-separated integers") from None


def _stored_config(run_root: Path) -> dict[str, Any] | None:
    path = run_root / "config.json"
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise TrainingError(f"{path}: unreadable run config ({err})") from None
    return data


class Logger:
    """Lines to stderr (above the progress bar) and to the run's train.log; rank 0 only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        if self.path is None:
            return
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
        with self.path.open("a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def run(args: argparse.Namespace) -> int:
    import torch

    from trainer import __version__
    from trainer.atomic import remove_stale_temporaries, write_json
    from trainer.audio import example_audio_path, find_audio_files
    from trainer.dataset import SegmentDataset
    from trainer.distributed import init_distributed, pick_device, shutdown
    from trainer.feature_cache import default_cache_dir, load_all_features
    from trainer.features import FeatureConfig
    from trainer.models.ddsp import DDSPAutoencoder, ModelConfig, count_parameters
    from trainer.report import write_report
    from trainer.run_dir import RunDir
    from trainer.train import DDSPTrainer, TrainConfig

    run_dir = RunDir(args.out)
    stored = _stored_config(run_dir.root)
    has_checkpoint = run_dir.checkpoint.is_file()
    if (stored or has_checkpoint) and not args.resume:
        raise TrainingError(
            f"{run_dir.root} already holds a run; pass --resume to continue it "
            "or choose another --out"
        )
    if run_dir.root.exists() and not run_dir.root.is_dir():
        raise ParameterError(f"--out {run_dir.root} exists and is not a folder")
    if args.minutes is not None and not args.minutes > 0:
        raise ParameterError(f"--minutes={args.minutes} must be positive")

    inputs = list(args.inputs) + ([str(example_audio_path())] if args.example else [])
    if stored is not None:
        files = [Path(f) for f in stored["files"]]
        if inputs and [p.resolve() for p in find_audio_files(inputs)] != files:
            raise ParameterError(
                "--resume continues on the run's own files; leave out the inputs or start a new run"
            )
        feature_config = FeatureConfig(**stored["features"])
        train_dict = dict(stored["train"], fft_sizes=tuple(stored["train"]["fft_sizes"]))
        if args.steps is not None:
            train_dict["steps"] = args.steps
        train_config = TrainConfig(**train_dict)
    else:
        if not inputs:
            raise ParameterError("no inputs: give audio files or folders, or --example")
        files = [p.resolve() for p in find_audio_files(inputs)]
        feature_config = FeatureConfig(
            sample_rate=args.sample_rate,
            hop=args.hop,
            f0_tracker=args.f0_tracker,
            f0_min_hz=args.f0_min,
            f0_max_hz=args.f0_max,
        )
        train_config = TrainConfig(
            steps=args.steps if args.steps is not None else DEFAULT_STEPS,
            batch_size=args.batch_size,
            segment_seconds=args.segment_seconds,
            learning_rate=args.lr,
            fft_sizes=parse_fft_sizes(args.fft_sizes),
            log_weight=args.log_weight,
            time_l1_weight=args.time_l1,
            checkpoint_every=args.checkpoint_every,
            val_fraction=args.val_fraction,
            seed=args.seed,
        )

    device = pick_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    dist_info = init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    elif dist_info.enabled:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist_info.world_size))
    try:
        if dist_info.is_main:
            run_dir.root.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(run_dir.root)
        log = Logger(run_dir.log if dist_info.is_main else None)
        torch.manual_seed(train_config.seed + dist_info.rank)
        cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
        if dist_info.enabled and not dist_info.is_main:
            torch.distributed.barrier()  # let rank 0 fill the feature cache first
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            features = load_all_features(
                files,
                feature_config,
                cache_dir=cache_dir,
                progress=not args.quiet and dist_info.is_main,
            )
        if dist_info.enabled and dist_info.is_main:
            torch.distributed.barrier()
        for warning in caught:
            log(f"warning: {warning.message}")
        names = [f.stem for f in files]
        dataset = SegmentDataset(
            features,
            names,
            hop=feature_config.hop,
            segment_frames=round(train_config.segment_seconds * feature_config.frame_rate),
            val_fraction=train_config.val_fraction,
        )
        if stored is not None:
            model_config = ModelConfig(**stored["model"])
        else:
            model_config = ModelConfig(
                preset=args.preset,
                sample_rate=feature_config.sample_rate,
                hop=feature_config.hop,
                n_harmonics=args.harmonics,
                n_noise_bands=args.noise_bands,
                z_dim=args.z_dim,
                n_mfcc=feature_config.n_mfcc,
                reverb_seconds=args.reverb,
                loudness_mean=dataset.loudness_mean,
                loudness_std=dataset.loudness_std,
            )
            if dist_info.is_main:
                write_json(
                    run_dir.config,
                    {
                        "version": __version__,
                        "files": [str(f) for f in files],
                        "features": feature_config.__dict__,
                        "model": model_config.to_dict(),
                        "train": train_config.to_dict(),
                    },
                )
        model = DDSPAutoencoder(model_config)
        trainer = DDSPTrainer(
            model,
            dataset,
            train_config,
            run_dir,
            device=device,
            dist_info=dist_info,
            log=log,
        )
        if has_checkpoint:
            trainer.resume(run_dir.checkpoint)
            log(f"resumed from step {trainer.state.step} ({run_dir.checkpoint})")
        log(
            f"training on {len(files)} file(s), "
            f"{dataset.train_frames / feature_config.frame_rate:.1f}"
            f" s of audio; {count_parameters(model)} parameters; device {device}; "
            f"world size {dist_info.world_size}"
        )
        writer = None
        if args.tensorboard and dist_info.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ParameterError("--tensorboard needs: pip install tensorboard") from None
            writer = SummaryWriter(str(run_dir.tensorboard))
        reason = trainer.fit(minutes=args.minutes, progress=not args.quiet, writer=writer)
        if writer is not None:
            writer.close()
        state = trainer.state
        if reason == "signal":
            log(f"stopped by signal at step {state.step}; checkpoint saved; continue with --resume")
            return 130
        if not dist_info.is_main:
            return 0
        summary = {
            "steps": state.step,
            "stopped_by": reason,
            "audio_seconds_trained": state.audio_seconds,
            "train_wall_seconds": state.train_seconds,
            "audio_seconds_per_second": state.audio_seconds / max(state.train_seconds, 1e-9),
            "skipped_steps": state.skipped_steps,
            "final_train_loss": float(
                sum(state.history["loss"][-20:]) / max(1, len(state.history["loss"][-20:]))
            ),
            "final_validation_loss": state.history["val_loss"][-1]
            if state.history["val_loss"]
            else math.nan,
            "parameters": {
                "encoder": count_parameters(model.encoder),
                "decoder": count_parameters(model.decoder),
                "total": count_parameters(model),
            },
            "world_size": dist_info.world_size,
            "device": str(device),
        }
        metrics = write_report(
            model, dataset, features, feature_config, run_dir, summary, state.history
        )
        val = metrics["validation"]
        log(
            "validation: "
            + ", ".join(f"{k} {v:.4g}" for k, v in val.items())
            + f" — report in {run_dir.root}"
        )
        return 0
    finally:
        shutdown(dist_info)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except GrowError as err:
        print(f"grow-train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grow-train: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
