"""`grow-export RUN_DIR --out m.onnx`: one streaming ONNX file, verified against PyTorch, with a
model card printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli_help import command_parser
from core.errors import ParameterError, TrainingError, run_cli
from export.contract import ArtifactMetadata, TextureSpec

VERIFY_FRAMES_RANGE = (10, 100_000)  # frames of wandering controls run through both sides


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "grow-export",
        description="Write a trained run as one streaming ONNX file: the per-frame step graph "
        "(decoder and one NCA step, state in and out) with everything the engine needs in its "
        "metadata (rates, feature settings, trained pitch range, timbre presets and encoder, NCA "
        "seed, reverb). Before the file appears, PyTorch and onnxruntime are run side by side "
        "over hundreds of frames; any difference above 1e-4 (relative) fails the export and "
        "nothing is written. Then a model card is printed.",
        examples=[
            "grow-export run --out flute.onnx",
            "grow-export run --out flute.onnx --force      # replace an earlier export",
        ],
        outputs="the .onnx file given by --out (written atomically), a model card on stdout",
        next_step="grow-render --model flute.onnx --input phrase.wav --out r.wav, or "
        "grow-live --model flute.onnx",
    )
    p.add_argument("run", type=Path, help="run directory written by grow-train (both phases)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument(
        "--verify-frames",
        type=int,
        default=600,
        help="frames of wandering controls run through PyTorch and onnxruntime to verify",
    )
    return p


def trained_range(meta: ArtifactMetadata) -> str:
    """What the model learned, in words: its pitch range and the harmonics that can sound."""
    low, high = meta.trained_f0_hz
    if low <= 0:
        return "not recorded (format 1): every harmonic below Nyquist can sound"
    quiet = meta.trained_loudness_low_db
    level = (
        f"; below {quiet:.0f} dB loudness the timbre is that of {quiet:.0f} dB and the level "
        "follows the input down"
        if quiet is not None
        else ""
    )
    return (
        f"{low:.0f}..{high:.0f} Hz; below it the decoder plays its timbre at {low:.0f} Hz, above "
        f"it at {high:.0f} Hz; harmonics 1..{meta.trained_harmonics} of {meta.n_harmonics} "
        f"can sound (the rest were never audible in training){level}"
    )


def texture_line(meta: ArtifactMetadata) -> str:
    """The texture NCA in a line, or that there is none."""
    if not meta.texture:
        return "none (grow-train --resume --phase texture adds one)"
    spec = TextureSpec.of(meta)
    seconds = spec.control_frames / meta.frame_rate
    ratio = spec.metrics.get("distance_ratio")
    measured = f"; its audio {ratio:.2f} x the DDSP model's distance" if ratio else ""
    return (
        f"a {seconds:g} s loop of {spec.frames} x {spec.width} cells, {spec.channels} channels, "
        f"{spec.steps} steps from the seed{measured} (grow-render --texture)"
    )


def model_card(
    meta: ArtifactMetadata, worst: dict[str, float], seconds_per_frame: float, path: Path
) -> str:
    """A short human-readable summary of an exported artifact."""
    prov = meta.provenance
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    load = seconds_per_frame * meta.frame_rate * 100
    return "\n".join(
        [
            f"Timbre Grower model card: {path} ({path.stat().st_size / 1e6:.2f} MB, "
            f"format {meta.format_version})",
            f"  trained on: {', '.join(prov.get('files', []))} (DDSP {prov.get('ddsp_steps')} "
            f"steps, NCA {prov.get('nca_steps')} steps)",
            f"  rates: {meta.sample_rate} Hz training rate, hop {meta.hop}, "
            f"{meta.frame_rate:g} frames/s",
            f"  synth: {meta.n_harmonics} harmonics, {meta.n_noise_bands} noise bands "
            f"({meta.band_layout}), reverb {'yes' if meta.reverb_ir else 'no'}",
            f"  decoder: {prov.get('preset')} preset, GRU {meta.gru_layers} x {meta.gru_hidden}, "
            f"z {meta.z_dim}-d",
            f"  NCA: {meta.nca_channels} channels, fire rate {meta.nca_fire_rate}, seed = first "
            f"{meta.nca_seed_harmonics} harmonic(s)",
            f"  f0: {meta.f0_min_hz:g}..{meta.f0_max_hz:g} Hz ({meta.f0_tracker}); loudness "
            f"normalisation {meta.loudness_mean:.1f} +- {meta.loudness_std:.1f} dB",
            f"  trained pitch range: {trained_range(meta)}",
            f"  timbre: presets {', '.join(meta.presets)}; encoder for --timbre input: "
            f"{'yes' if meta.encoder_onnx else 'no'}",
            f"  texture: {texture_line(meta)}",
            f"  verified: torch vs onnxruntime, worst relative difference {diffs}",
            f"  inference: {seconds_per_frame * 1e6:.0f} us per frame (onnxruntime, 1 thread) = "
            f"{load:.2f}% of one core in real time",
        ]
    )


def run(args: argparse.Namespace) -> int:
    from core.outputs import check_output
    from export.onnx_export import build_metadata, export_onnx, load_run, load_texture
    from export.step_graph import StepGraph
    from export.verify import TOLERANCE, compare, time_per_frame, verify_texture
    from trainer.run_dir import RunDir

    check_output(args.out, option="--out", suffixes=(".onnx",), force=args.force)
    low, high = VERIFY_FRAMES_RANGE
    if not low <= args.verify_frames <= high:  # 0 frames would claim a check never made
        raise ParameterError(f"--verify-frames {args.verify_frames} must be in {low}..{high}")
    run_dir = RunDir(args.run)
    ddsp, nca, config = load_run(run_dir)
    texture = load_texture(run_dir, config)
    meta = build_metadata(run_dir, ddsp, nca, config, texture=texture)
    graph = StepGraph(ddsp, nca)
    tmp = args.out.with_name(f".{args.out.name}.unverified")
    try:
        export_onnx(graph, meta, tmp)
        one = compare(graph, tmp, meta, n_frames=args.verify_frames)
        # eight voices in one call, as a polyphonic engine runs the graph, frame by frame
        eight = compare(
            graph, tmp, meta, n_frames=max(1, args.verify_frames // 4), batch=8, own_state=False
        )
        worst = {name: max(one[name], eight[name]) for name in one}
        if texture is not None:
            worst.update(verify_texture(TextureSpec.of(meta), texture, ddsp))
        failed = {k: v for k, v in worst.items() if v > TOLERANCE}
        if failed:
            raise TrainingError(
                "verification failed: onnxruntime differs from torch by "
                + ", ".join(f"{k} {v:.2e}" for k, v in failed.items())
                + f" (relative; tolerance {TOLERANCE:g}); nothing written"
            )
        tmp.replace(args.out)
    finally:
        tmp.unlink(missing_ok=True)
    print(model_card(meta, worst, time_per_frame(args.out, meta), args.out))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("grow-export", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
