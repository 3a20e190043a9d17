"""`grow-train AUDIO_OR_DIR... --out RUN_DIR`: learn an instrument's timbre, then learn to grow it.

Phase 1 (`ddsp`) trains the DDSP model; phase 2 (`nca`) trains the harmonic NCA with the DDSP
model frozen; `--phase all` (default) runs both. `--phase texture`, on a run whose DDSP model is
trained, trains the texture NCA (trainer/texture_phase.py). Every phase is resumable. Errors the
user can fix are printed as one line (no traceback) with exit code 2; a run stopped by Ctrl-C or
SIGTERM saves its checkpoint and exits with 130; `--resume` continues it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli_help import command_parser
from core.errors import ParameterError, TrainingError, run_cli
from core.features import F0_TRACKERS, silence_features
from trainer.models.presets import LEVEL_MODES, PRESETS
from trainer.texture_phase import add_texture_options, texture_phase, texture_settings

if TYPE_CHECKING:
    import torch

    from core.features import FeatureConfig, Features
    from trainer.dataset import SegmentDataset
    from trainer.distributed import DistInfo
    from trainer.models.ddsp import DDSPAutoencoder, ModelConfig
    from trainer.models.nca import NCAConfig
    from trainer.nca_train import NCATrainConfig
    from trainer.run_dir import RunDir
    from trainer.train import TrainConfig

DEFAULT_STEPS = 10000
DEFAULT_NCA_STEPS = 2000
# A file pitched in less of its frames than this is warned about (noise, speech, drums...).
MIN_VOICED_FRACTION = 0.2
DDSP_SHARE_OF_MINUTES = 0.75  # with --phase all and --minutes, the DDSP phase's share
# Settings' field names as the user typed them on the command line, for error messages.
OPTION_NAMES = {
    "val_fraction": "--val-fraction",
    "silence_fraction": "--silence-fraction",
    "batch_size": "--batch-size",
    "segment_seconds": "--segment-seconds",
    "learning_rate": "--lr",
    "log_weight": "--log-weight",
    "time_l1_weight": "--time-l1",
    "checkpoint_every": "--checkpoint-every",
    "fft_sizes": "--fft-sizes",
    "steps": "--steps",
    "sample_rate": "--sample-rate",
    "hop": "--hop",
    "n_harmonics": "--harmonics",
    "n_noise_bands": "--noise-bands",
    "z_dim": "--z-dim",
    "reverb_seconds": "--reverb",
    "level": "--level",
    "channels": "--nca-channels",
    "hidden": "--nca-hidden",
    "fire_rate": "--fire-rate",
    "seed_harmonics": "--seed-harmonics",
    "seed": "--seed",
    "f0_min_hz": "--f0-min",
    "f0_max_hz": "--f0-max",
}
# The NCA phase's settings where they differ from the DDSP phase's.
NCA_OPTION_NAMES = {**OPTION_NAMES, "steps": "--nca-steps"}


@contextmanager
def in_option_names(names: dict[str, str] = OPTION_NAMES) -> Iterator[None]:
    """Re-raise a settings error in the words of the command line: `fire_rate=2.0 must be ...`
    becomes `--fire-rate 2.0 must be ...`. names: setting -> option."""
    try:
        yield
    except ParameterError as err:
        text = re.sub(
            r"(?<![\w-])([a-z0-9_]+)=",
            lambda m: f"{names[m.group(1)]} " if m.group(1) in names else m.group(0),
            str(err),
        )
        raise ParameterError(text) from None


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "grow-train",
        description="Learn the timbre of a monophonic instrument from a few minutes of its "
        "recordings: phase 1 (ddsp) trains a DDSP model (a recurrent decoder that predicts "
        "harmonic amplitudes and filtered-noise bands from pitch, loudness and a timbre vector, "
        "through a differentiable harmonic + noise synth and a multi-scale spectral loss); "
        "phase 2 (nca) freezes it and trains a neural cellular automaton that grows the "
        "harmonic mask from the fundamental into the full timbre. --phase all runs both; "
        "--phase texture then grows a looping spectro-temporal texture of the recording. "
        "Trains on CUDA when present, else on the CPU. Both phases checkpoint atomically and "
        "resume exactly (--resume) after Ctrl-C, a crash or kill -9.",
        examples=[
            "grow-train --example --out run --minutes 4       # the bundled flute",
            "grow-train takes/*.wav --out violin --minutes 30",
            "grow-train --out violin --resume --steps 20000  # continue a run",
            "grow-train --out violin --resume --phase texture --texture-minutes 30",
        ],
        outputs="RUN_DIR: config.json, checkpoint.pt, nca.pt, metrics.json, train.log, "
        "val_*.wav (the validation slice and its reconstruction), growth_preview_*.wav, "
        "loss_curve.png, spectrogram.png, growth_heatmap.png; with --phase texture: texture.pt, "
        "texture_metrics.json, texture_growth.png, texture_loss_curve.png, texture_*.wav",
        next_step="grow-export RUN_DIR --out model.onnx, then grow-render or grow-live",
    )
    p.add_argument("inputs", nargs="*", help="audio files or folders (searched recursively)")
    p.add_argument("--out", required=True, type=Path, help="run directory to create or resume")
    p.add_argument("--example", action="store_true", help="add the bundled flute recording")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--phase",
        choices=["ddsp", "nca", "all", "texture"],
        default="all",
        help="which phase(s) to train (all: ddsp and nca)",
    )
    budget = p.add_argument_group("budget")
    budget.add_argument("--steps", type=int, help=f"DDSP steps in all (default: {DEFAULT_STEPS})")
    budget.add_argument(
        "--minutes",
        type=float,
        help=f"wall-clock budget of this session; with --phase all the DDSP phase gets "
        f"{round(100 * DDSP_SHARE_OF_MINUTES)}%% and the NCA phase the rest",
    )
    budget.add_argument("--nca-steps", type=int, help=f"NCA steps (default {DEFAULT_NCA_STEPS})")
    budget.add_argument("--nca-minutes", type=float, help="wall-clock budget of the NCA phase")
    model = p.add_argument_group("model")
    model.add_argument(
        "--preset",
        default="tiny",
        choices=list(PRESETS),
        help="decoder size: tiny (GRU 192), small (GRU 384), seed (2 x 512)",
    )
    model.add_argument("--sample-rate", type=int, default=24000, help="model rate in Hz")
    model.add_argument("--hop", type=int, default=240, help="samples per control frame")
    model.add_argument("--harmonics", type=int, default=64, help="harmonics in the synth (K)")
    model.add_argument(
        "--noise-bands", type=int, default=64, help="noise filter bands up to Nyquist (B)"
    )
    model.add_argument("--z-dim", type=int, default=16, help="size of the timbre vector z")
    model.add_argument(
        "--reverb",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="learn a reverb impulse response this long (0 = none)",
    )
    model.add_argument(
        "--level",
        default="loudness",
        choices=list(LEVEL_MODES),
        help="what sets the output level: the loudness input, frame by frame (the network "
        "learns the timbre only), or the network's amplitude head as in DDSP",
    )
    nca = p.add_argument_group("NCA")
    nca.add_argument("--nca-channels", type=int, default=16, help="state channels per cell")
    nca.add_argument("--nca-hidden", type=int, default=64, help="width of the update rule")
    nca.add_argument(
        "--seed-harmonics",
        type=int,
        default=1,
        help="harmonics alive in the seed (1 = the fundamental alone)",
    )
    nca.add_argument(
        "--grow-steps", default="32,64", help="range of NCA steps grown before the loss, MIN,MAX"
    )
    nca.add_argument(
        "--fire-rate", type=float, default=0.5, help="chance that a cell updates in a step"
    )
    add_texture_options(p)
    feats = p.add_argument_group("features")
    feats.add_argument(
        "--f0-tracker",
        default="pyin",
        choices=list(F0_TRACKERS),
        help="pitch tracker (yin: much faster, no voicing model; crepe: optional package)",
    )
    feats.add_argument("--f0-min", type=float, default=50.0, help="lowest pitch tracked, Hz")
    feats.add_argument("--f0-max", type=float, default=2000.0, help="highest pitch tracked, Hz")
    feats.add_argument(
        "--cache-dir", type=Path, help="feature cache (default: ~/.cache/timbre-grower/features)"
    )
    feats.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    train = p.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=8, help="segments per step")
    train.add_argument("--segment-seconds", type=float, default=1.0, help="length of a segment")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    train.add_argument(
        "--fft-sizes",
        default="2048,1024,256,64",
        help="comma-separated FFT sizes of the spectral loss",
    )
    train.add_argument(
        "--log-weight", type=float, default=1.0, help="weight of the log-magnitude loss term"
    )
    train.add_argument("--time-l1", type=float, default=0.0, help="weight of a waveform L1 term")
    train.add_argument("--checkpoint-every", type=int, default=200, help="steps (both phases)")
    train.add_argument(
        "--val-fraction", type=float, default=0.1, help="held-out tail of every file"
    )
    train.add_argument(
        "--silence-fraction",
        type=float,
        default=0.0,
        help="share of training segments replaced by digital silence, so that the model "
        "learns to be silent where the input is (0.05 helps recordings with rests; it hurt a "
        "5 s recording without any)",
    )
    train.add_argument("--seed", type=int, default=0, help="randomness of data and init")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: CUDA when present, else the CPU",
    )
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ParameterError(f"{option} {text} must be comma-separated integers") from None


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


@dataclass
class Session:
    """What both phases share: the run, its settings and data, where and how to compute."""

    args: argparse.Namespace
    run: RunDir
    stored: dict[str, Any] | None
    files: list[Path]
    feature_config: FeatureConfig
    train_config: TrainConfig
    model_config: ModelConfig
    features: list[Features]
    dataset: SegmentDataset
    device: torch.device
    dist: DistInfo
    log: Logger
    deadline: float  # time.monotonic() at which this session's --minutes run out (inf if none)

    def load_trained_ddsp(self, ddsp: DDSPAutoencoder) -> None:
        """The run's trained DDSP weights into `ddsp` (what the NCA phases build on)."""
        from trainer.checkpoint import load_checkpoint, load_weights

        if not self.run.checkpoint.is_file():
            raise TrainingError(
                f"{self.run.root}: no DDSP checkpoint; run --phase ddsp (or all) first"
            )
        load_weights(ddsp, load_checkpoint(self.run.checkpoint), "model", self.run.checkpoint)

    def minutes_left(self) -> float | None:
        return (
            None if math.isinf(self.deadline) else max(0.0, self.deadline - time.monotonic()) / 60
        )


def resolve_settings(
    args: argparse.Namespace, stored: dict[str, Any] | None
) -> tuple[list[Path], FeatureConfig, TrainConfig]:
    """Files and settings: from the stored run when resuming, else from the command line."""
    from core.audio import find_audio_files
    from core.features import FeatureConfig
    from trainer.example import example_audio_path
    from trainer.train import TrainConfig

    inputs = list(args.inputs) + ([str(example_audio_path())] if args.example else [])
    if stored is not None:
        files = [Path(f) for f in stored["files"]]
        if inputs and [p.resolve() for p in find_audio_files(inputs)] != files:
            raise ParameterError(
                "--resume continues on the run's own files; leave out the inputs or start a new run"
            )
        train_dict = dict(stored["train"], fft_sizes=tuple(stored["train"]["fft_sizes"]))
        if args.steps is not None:
            train_dict["steps"] = args.steps
        return files, FeatureConfig(**stored["features"]), TrainConfig(**train_dict)
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
        fft_sizes=parse_ints(args.fft_sizes, "--fft-sizes"),
        log_weight=args.log_weight,
        time_l1_weight=args.time_l1,
        checkpoint_every=args.checkpoint_every,
        val_fraction=args.val_fraction,
        silence_fraction=args.silence_fraction,
        seed=args.seed,
    )
    return files, feature_config, train_config


def open_session(args: argparse.Namespace, dist: DistInfo, device: torch.device) -> Session:
    """Check the run directory, load features (with the cache), build the dataset, store config."""
    import torch

    from core.atomic import remove_stale_temporaries, write_json
    from core.version import __version__
    from trainer.dataset import SegmentDataset
    from trainer.feature_cache import default_cache_dir, load_all_features
    from trainer.models.ddsp import ModelConfig
    from trainer.run_dir import RunDir

    start = time.monotonic()
    run = RunDir(args.out)
    stored = _stored_config(run.root)
    if (stored or run.checkpoint.is_file()) and not args.resume:
        raise TrainingError(
            f"{run.root} already holds a run; pass --resume to continue it or choose another --out"
        )
    if args.resume and stored is None:
        raise TrainingError(
            f"--resume: {run.root} holds no run to continue (no config.json); leave out --resume "
            "to start one there"
        )
    if run.root.exists() and not run.root.is_dir():
        raise ParameterError(f"--out {run.root} exists and is not a folder")
    if not run.root.parent.is_dir():  # the run folder is made; its parents never by accident
        raise ParameterError(f"--out {run.root}: folder {run.root.parent} does not exist")
    for option in ("minutes", "nca_minutes"):
        value = getattr(args, option)
        if value is not None and not value > 0:
            raise ParameterError(f"--{option.replace('_', '-')} {value} must be positive")
    with in_option_names():
        files, feature_config, train_config = resolve_settings(args, stored)
        # Every setting is checked now, before features are computed or anything is written
        # (the data-dependent fields of the real model config come later).
        trial_model = (
            ModelConfig(**stored["model"])
            if stored is not None
            else ModelConfig(
                preset=args.preset,
                sample_rate=feature_config.sample_rate,
                hop=feature_config.hop,
                n_harmonics=args.harmonics,
                n_noise_bands=args.noise_bands,
                z_dim=args.z_dim,
                reverb_seconds=args.reverb,
                level=args.level,
            )
        )
    if args.phase in ("nca", "all"):
        nca_settings(args, stored or {}, trial_model, train_config)
    if args.phase == "texture":
        texture_settings(args, stored or {}, trial_model, feature_config.frame_rate)
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    if dist.enabled and not dist.is_main:
        torch.distributed.barrier()  # let rank 0 fill the feature cache first
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features = load_all_features(
            files, feature_config, cache_dir=cache_dir, progress=not args.quiet and dist.is_main
        )
        for path, feats in zip(files, features, strict=True):
            voiced = float(feats.voiced.mean()) if feats.n_frames else 0.0
            if voiced < MIN_VOICED_FRACTION:
                warnings.warn(
                    f"{path}: only {100 * voiced:.0f} % of it is pitched (voiced); grow-train "
                    "learns monophonic pitched instruments, so expect a poor model",
                    stacklevel=1,
                )
    if dist.enabled and dist.is_main:
        torch.distributed.barrier()
    segment_frames = round(train_config.segment_seconds * feature_config.frame_rate)
    with in_option_names():
        dataset = SegmentDataset(
            features,
            [f.stem for f in files],
            hop=feature_config.hop,
            segment_frames=segment_frames,
            val_fraction=train_config.val_fraction,
            frame_rate=feature_config.frame_rate,
            silence=silence_features(segment_frames, feature_config)
            if train_config.silence_fraction > 0
            else None,
            sources=[str(f) for f in files],
        )
    # Only now that the inputs are known to be usable does the run directory appear: a run
    # refused for its inputs leaves no empty --out behind.
    if dist.is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run.root)
    log = Logger(run.log if dist.is_main else None)
    for warning in caught:
        log(f"warning: {warning.message}")
    if stored is not None:
        model_config = trial_model
    else:
        model_config = dataclasses.replace(
            trial_model,
            n_mfcc=feature_config.n_mfcc,
            loudness_mean=dataset.loudness_mean,
            loudness_std=dataset.loudness_std,
            f0_trained_low_hz=dataset.f0_range_hz[0],
            f0_trained_high_hz=dataset.f0_range_hz[1],
            loudness_trained_low_db=dataset.loudness_low_db,
            trained_harmonics=trained_harmonics(
                dataset.f0_range_hz[0], trial_model.n_harmonics, feature_config.sample_rate
            ),
        )
        stored = {
            "version": __version__,
            "files": [str(f) for f in files],
            "features": feature_config.__dict__,
            "model": model_config.to_dict(),
            "train": train_config.to_dict(),
        }
        if dist.is_main:
            write_json(run.config, stored)
    deadline = start + 60 * args.minutes if args.minutes is not None else math.inf
    return Session(
        args,
        run,
        stored,
        files,
        feature_config,
        train_config,
        model_config,
        features,
        dataset,
        device,
        dist,
        log,
        deadline,
    )


def ddsp_phase(session: Session) -> tuple[int, DDSPAutoencoder]:
    """Train (or finish training) the DDSP model; write its report. Returns (exit code, model)."""
    import torch

    from trainer.models.ddsp import DDSPAutoencoder, count_parameters
    from trainer.report import write_report
    from trainer.train import DDSPTrainer

    args, run, dist = session.args, session.run, session.dist
    torch.manual_seed(session.train_config.seed + dist.rank)
    model = DDSPAutoencoder(session.model_config)
    trainer = DDSPTrainer(
        model,
        session.dataset,
        session.train_config,
        run,
        device=session.device,
        dist_info=dist,
        log=session.log,
    )
    resumed = run.checkpoint.is_file()
    if resumed:
        trainer.resume(run.checkpoint)
        session.log(f"resumed from step {trainer.state.step} ({run.checkpoint})")
    already_done = resumed and trainer.state.step >= session.train_config.steps
    if already_done and run.metrics.is_file():
        return 0, model
    session.log(
        f"training on {len(session.files)} file(s), "
        f"{session.dataset.train_frames / session.feature_config.frame_rate:.1f} s of audio; "
        f"{count_parameters(model)} parameters; device {session.device}; "
        f"world size {dist.world_size}"
    )
    mc = model.config
    if mc.trained_harmonics:
        session.log(
            f"trained pitch range {mc.f0_trained_low_hz:.0f}..{mc.f0_trained_high_hz:.0f} Hz: "
            f"harmonics 1..{mc.trained_harmonics} of {mc.n_harmonics} can sound"
        )
    if mc.loudness_trained_low_db is not None:
        session.log(
            f"quietest trained playing {mc.loudness_trained_low_db:.0f} dB: below it the timbre "
            "stays and the level follows the input down"
        )
    if mc.level == "loudness":
        session.log("level: the output plays at the loudness input, frame by frame (--level)")
    minutes = session.minutes_left()
    if minutes is not None and args.phase == "all":
        minutes *= DDSP_SHARE_OF_MINUTES
    writer = None
    if args.tensorboard and dist.is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ParameterError("--tensorboard needs: pip install tensorboard") from None
        writer = SummaryWriter(str(run.tensorboard))
    reason = trainer.fit(minutes=minutes, progress=not args.quiet, writer=writer)
    if writer is not None:
        writer.close()
    state = trainer.state
    if reason == "signal":
        session.log(
            f"stopped by signal at step {state.step}; checkpoint saved; continue with --resume"
        )
        return 130, model
    if state.step == 0:  # the features took the whole budget (a long recording, a short --minutes)
        raise TrainingError(
            f"--minutes {args.minutes:g} ran out before the first training step (computing the "
            "features took it; they are cached now): continue with "
            f"grow-train --out {run.root} --resume --minutes M"
        )
    if not dist.is_main:
        return 0, model
    recent = state.history["loss"][-20:]
    summary = {
        "steps": state.step,
        "stopped_by": reason,
        "audio_seconds_trained": state.audio_seconds,
        "train_wall_seconds": state.train_seconds,
        "audio_seconds_per_second": state.audio_seconds / max(state.train_seconds, 1e-9),
        "skipped_steps": state.skipped_steps,
        "final_train_loss": float(sum(recent) / max(1, len(recent))),
        "final_validation_loss": state.history["val_loss"][-1]
        if state.history["val_loss"]
        else math.nan,
        "parameters": {
            "encoder": count_parameters(model.encoder),
            "decoder": count_parameters(model.decoder),
            "total": count_parameters(model),
        },
        "world_size": dist.world_size,
        "device": str(session.device),
    }
    metrics = write_report(
        model,
        session.dataset,
        session.features,
        session.feature_config,
        run,
        summary,
        state.history,
    )
    session.log(
        "validation: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics["validation"].items())
    )
    return 0, model


def trained_harmonics(lowest_f0_hz: float, n_harmonics: int, sample_rate: int) -> int:
    """Highest harmonic index the training data makes audible: the largest k with k * f0 below
    Nyquist at the lowest trained pitch (at least 1, at most n_harmonics)."""
    import torch

    from trainer.dsp import highest_audible_harmonic

    k = highest_audible_harmonic(torch.tensor(lowest_f0_hz, dtype=torch.float64), sample_rate)
    return max(1, min(n_harmonics, int(k)))


def nca_settings(
    args: argparse.Namespace,
    stored: dict[str, Any],
    model_config: ModelConfig,
    train_config: TrainConfig,
) -> tuple[NCAConfig, NCATrainConfig]:
    """The NCA phase's settings: the run's own when it has them, else from the command line.
    Built (and so checked) when the session opens, before any training."""
    from trainer.models.nca import NCAConfig
    from trainer.nca_train import NCATrainConfig

    with in_option_names(NCA_OPTION_NAMES):
        if "nca" in stored:
            nca_dict = dict(stored["nca_train"], fft_sizes=tuple(stored["nca_train"]["fft_sizes"]))
            if args.nca_steps is not None:
                nca_dict["steps"] = args.nca_steps
            return NCAConfig(**stored["nca"]), NCATrainConfig(**nca_dict)
        grow_range = parse_ints(args.grow_steps, "--grow-steps")
        if len(grow_range) != 2 or not 1 <= grow_range[0] <= grow_range[1]:
            raise ParameterError(
                f"--grow-steps {args.grow_steps} must be MIN,MAX with 1 <= MIN <= MAX"
            )
        lo, hi = grow_range
        nca_config = NCAConfig(
            channels=args.nca_channels,
            hidden=args.nca_hidden,
            n_harmonics=model_config.n_harmonics,
            fire_rate=args.fire_rate,
            seed_harmonics=args.seed_harmonics,
        )
        nca_train = NCATrainConfig(
            steps=args.nca_steps if args.nca_steps is not None else DEFAULT_NCA_STEPS,
            batch_size=train_config.batch_size,
            min_grow_steps=lo,
            max_grow_steps=hi,
            fft_sizes=train_config.fft_sizes,
            checkpoint_every=train_config.checkpoint_every,
            seed=train_config.seed,
        )
    return nca_config, nca_train


def nca_phase(session: Session, ddsp: DDSPAutoencoder) -> int:
    """Train the harmonic NCA on the frozen DDSP model; write its report."""
    import torch

    from core.atomic import write_json
    from trainer.models.ddsp import count_parameters
    from trainer.models.nca import HarmonicNCA
    from trainer.nca_report import write_nca_report
    from trainer.nca_train import NCATrainer

    args, run, stored = session.args, session.run, session.stored
    assert stored is not None
    session.load_trained_ddsp(ddsp)
    nca_config, nca_train = nca_settings(args, stored, session.model_config, session.train_config)
    if "nca" not in stored:
        stored.update(nca=nca_config.to_dict(), nca_train=nca_train.to_dict())
        write_json(run.config, stored)
    torch.manual_seed(nca_train.seed)
    nca = HarmonicNCA(nca_config)
    trainer = NCATrainer(
        nca, ddsp, session.dataset, nca_train, run, device=session.device, log=session.log
    )
    if run.nca_checkpoint.is_file():
        trainer.resume()
        session.log(f"nca: resumed from step {trainer.state.step} ({run.nca_checkpoint})")
    if trainer.state.step >= nca_train.steps and run.nca_metrics.is_file():
        return 0
    session.log(
        f"nca: {count_parameters(nca)} parameters, seed = first "
        f"{nca_config.seed_harmonics} harmonic(s)"
    )
    minutes = args.nca_minutes if args.nca_minutes is not None else session.minutes_left()
    if args.nca_minutes is None and args.minutes is not None and args.phase == "all":
        # The NCA's quarter of the budget is its own: the DDSP phase's report (which runs after
        # its 75 %) does not eat into it, so a run may end that report's time after --minutes.
        assert minutes is not None
        minutes = max(minutes, (1 - DDSP_SHARE_OF_MINUTES) * args.minutes)
    reason = trainer.fit(minutes=minutes, progress=not args.quiet)
    state = trainer.state
    if reason == "signal":
        session.log(
            f"nca: stopped by signal at step {state.step}; checkpoint saved; continue with --resume"
        )
        return 130
    metrics = write_nca_report(nca, ddsp, session.dataset, nca_train, run, trainer.summary(reason))
    session.log(
        "nca: "
        + ", ".join(
            f"{k} {metrics[k]:.4g}"
            for k in (
                "distance_seed",
                "distance_grown",
                "distance_regrown",
                "order_correlation",
                "centroid_monotonic_fraction",
            )
            if metrics[k] is not None and math.isfinite(metrics[k])
        )
        + (
            f", within 10 % of the seed distance after {metrics['steps_to_10pct']} steps"
            if metrics["steps_to_10pct"] is not None
            else ", never within 10 % of the seed distance (train the NCA longer)"
        )
    )
    return 0


def next_steps(run: RunDir, phase: str) -> str:
    """What the user can look at and run once the run ends."""
    listen = [run.wav("target").name, run.wav("reconstruction").name]
    lines = [
        f"done. In {run.root}: listen to {' and '.join(listen)} (the held-out slice and the "
        f"model's reconstruction of it); pictures: loss_curve.png, spectrogram.png"
    ]
    if phase == "texture":
        lines.append(
            "  texture: texture_step_*.wav (its growth), texture_held.wav (a held note looping "
            "it), texture_target.wav, texture_growth.png, texture_metrics.json"
        )
        lines.append(f"next: grow-export {run.root} --out model.onnx")
    elif phase != "ddsp":
        lines.append("  growth: growth_preview_nca.wav, growth_continuous.wav, growth_heatmap.png")
        lines.append(f"next: grow-export {run.root} --out model.onnx")
    else:
        lines.append(f"next: grow-train --out {run.root} --resume --phase nca (the NCA phase)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from trainer.distributed import init_distributed, pick_device, shutdown
    from trainer.models.ddsp import DDSPAutoencoder

    device = pick_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    dist = init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    elif dist.enabled:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world_size))
    try:
        session = open_session(args, dist, device)
        if args.phase in ("ddsp", "all"):
            code, model = ddsp_phase(session)
            if code != 0 or args.phase == "ddsp":
                if code == 0 and dist.is_main:
                    session.log(next_steps(session.run, args.phase))
                return code
        else:
            model = DDSPAutoencoder(session.model_config)
        if not dist.is_main:
            return 0  # the NCAs are small: rank 0 trains them alone
        if args.phase == "texture":
            code = texture_phase(session, model)
        else:
            code = nca_phase(session, model)
        if code == 0:
            session.log(next_steps(session.run, args.phase))
        return code
    finally:
        shutdown(dist)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("grow-train", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
