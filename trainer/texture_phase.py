"""`grow-train --phase texture`: the texture NCA on a run whose DDSP model is trained.

Settings come from the command line the first time and from the run's config.json afterwards
(keys "texture", "texture_train", "texture_stretch"), so that --resume continues the same texture
on the same stretch.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from core.errors import ParameterError

if TYPE_CHECKING:
    from trainer.cli import Session
    from trainer.models.ddsp import DDSPAutoencoder, ModelConfig
    from trainer.models.texture_nca import TextureConfig
    from trainer.texture_train import TextureTrainConfig

DEFAULT_TEXTURE_STEPS = 1000


def add_texture_options(parser: argparse.ArgumentParser) -> None:
    """The texture phase's options, as one group."""
    group = parser.add_argument_group("texture NCA (--phase texture)")
    group.add_argument(
        "--texture-seconds", type=float, default=2.0, help="length of the texture's loop"
    )
    group.add_argument(
        "--texture-start",
        type=float,
        metavar="SECONDS",
        help="where the stretch it learns starts in the first file (default: the steadiest, "
        "loudest stretch of the training audio)",
    )
    group.add_argument(
        "--texture-stride", type=int, default=4, help="control frames per texture frame"
    )
    group.add_argument(
        "--texture-steps",
        type=int,
        help=f"texture training steps (default {DEFAULT_TEXTURE_STEPS})",
    )
    group.add_argument(
        "--texture-minutes", type=float, help="wall-clock budget of the texture phase"
    )


def texture_settings(
    args: argparse.Namespace, stored: dict[str, Any], model_config: ModelConfig, frame_rate: float
) -> tuple[TextureConfig, TextureTrainConfig]:
    """The run's texture settings if it has them, else the command line's (checked here)."""
    from trainer.models.texture_nca import TextureConfig
    from trainer.texture_train import TextureTrainConfig

    if "texture" in stored:
        train = dict(stored["texture_train"], fft_sizes=tuple(stored["texture_train"]["fft_sizes"]))
        if args.texture_steps is not None:
            train["steps"] = args.texture_steps
        return TextureConfig.from_dict(stored["texture"]), TextureTrainConfig(**train)
    if args.texture_stride < 1:
        raise ParameterError(f"--texture-stride {args.texture_stride} must be at least 1")
    frames = round(args.texture_seconds * frame_rate / args.texture_stride)
    if frames < 3:
        raise ParameterError(
            f"--texture-seconds {args.texture_seconds:g} makes a loop of {frames} texture "
            f"frames at --texture-stride {args.texture_stride}; it needs at least 3"
        )
    if args.texture_minutes is not None and not args.texture_minutes > 0:
        raise ParameterError(f"--texture-minutes {args.texture_minutes} must be positive")
    config = TextureConfig(
        frames=frames,
        frame_stride=args.texture_stride,
        n_harmonics=model_config.n_harmonics,
        n_noise_bands=model_config.n_noise_bands,
    )
    steps = args.texture_steps if args.texture_steps is not None else DEFAULT_TEXTURE_STEPS
    if steps < 1:
        raise ParameterError(f"--texture-steps {steps} must be at least 1")
    return config, TextureTrainConfig(steps=steps, seed=args.seed)


def texture_phase(session: Session, ddsp: DDSPAutoencoder) -> int:
    """Train the texture NCA on the run's DDSP synth; write its report. Returns the exit code."""
    import dataclasses

    import torch

    from core.atomic import write_json
    from trainer.dsp import highest_audible_harmonic
    from trainer.models.ddsp import count_parameters
    from trainer.models.texture_nca import TextureNCA
    from trainer.texture_report import write_texture_report
    from trainer.texture_train import Stretch, TextureTrainer, choose_stretch

    args, run, stored = session.args, session.run, session.stored
    assert stored is not None
    session.load_trained_ddsp(ddsp)
    frame_rate = session.feature_config.frame_rate
    config, train_config = texture_settings(args, stored, session.model_config, frame_rate)
    dataset = session.dataset
    if "texture_stretch" in stored:
        stretch = Stretch(**stored["texture_stretch"])
    else:
        start = None if args.texture_start is None else round(args.texture_start * frame_rate)
        stretch = choose_stretch(dataset, config.control_frames, start=start)
    target = stretch.features(dataset)
    if "texture" not in stored:
        voiced = target.f0_hz[target.voiced] if target.voiced.any() else target.f0_hz
        lowest = torch.tensor(float(voiced.min()), dtype=torch.float64)
        audible = int(highest_audible_harmonic(lowest, session.model_config.sample_rate))
        config = dataclasses.replace(  # the strip covers the harmonics it can learn
            config, harmonic_cells=max(1, min(config.n_harmonics, audible))
        )
        stored.update(
            texture=config.to_dict(),
            texture_train=train_config.to_dict(),
            texture_stretch=dataclasses.asdict(stretch),
        )
        write_json(run.config, stored)
    torch.manual_seed(train_config.seed)
    texture = TextureNCA(config)
    trainer = TextureTrainer(
        texture, ddsp, target, train_config, run, device=session.device, log=session.log
    )
    if run.texture_checkpoint.is_file():
        trainer.resume()
        session.log(f"texture: resumed from step {trainer.state.step} ({run.texture_checkpoint})")
    if trainer.state.step >= train_config.steps and run.texture_metrics.is_file():
        return 0
    session.log(
        f"texture: {count_parameters(texture)} parameters; a {config.control_frames / frame_rate:g}"
        f" s loop of {config.frames} x {config.width} cells, learning "
        f"{dataset.names[stretch.file]} from {stretch.start / frame_rate:.2f} s"
    )
    minutes = args.texture_minutes if args.texture_minutes is not None else session.minutes_left()
    reason = trainer.fit(minutes=minutes, progress=not args.quiet)
    state = trainer.state
    if reason == "signal":
        session.log(
            f"texture: stopped by signal at step {state.step}; checkpoint saved; continue with "
            "--resume"
        )
        return 130
    summary = {
        **trainer.summary(reason),
        "stretch_file": dataset.names[stretch.file],
        "stretch_start_s": stretch.start / frame_rate,
        "loop_seconds": config.control_frames / frame_rate,
    }
    metrics = write_texture_report(texture, ddsp, target, run, summary, state.history)
    session.log(
        "texture: "
        + ", ".join(
            f"{k} {metrics[k]:.4g}"
            for k in (
                "distance_texture",
                "distance_ddsp",
                "distance_ratio",
                "distance_regrown",
                "seam_level_step_db",
                "max_frame_level_step_db",
            )
            if math.isfinite(metrics[k])
        )
        + (
            f", regrown after {metrics['steps_to_regrow']} steps"
            if metrics["steps_to_regrow"] is not None
            else ", not regrown within the texture's steps (train it longer)"
        )
    )
    return 0
