"""`grow-render [--model m.onnx] --out out.wav`: the live engine's sound, offline, to WAV.

Modes: `--grow STRATEGY` (the seeds' discrete grower: one held note per growth stage),
`--score FILE` (a JSON note list or a standard MIDI file), `--input AUDIO` (resynthesis / timbre
transfer: pitch and loudness tracked from a recording with the model's own extractors) and
`--osc-log FILE` (replay a session recorded by `grow-live --record-osc`, sample for sample).
`--texture` plays the model's texture NCA growing from its seed: on a held note by itself, or
under `--input` or `--score`. Without `--model` the bundled demo model plays.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli_help import command_parser
from core.errors import GrowError, ParameterError, run_cli
from export.contract import ArtifactMetadata
from realtime.params import SPECS
from realtime.shared_options import (
    MIDI_NOTE_RANGE,
    SHARED_RANGES,
    add_growth_and_gate,
    add_tracking_options,
    add_voices,
    check_ranges,
    param_range,
)
from realtime.voice import DEFAULT_VOICES

if TYPE_CHECKING:
    from core.features import Features
    from realtime.control_log import ControlLog
    from realtime.engine import Engine

TRACKERS = ("model", "streaming")  # --tracker: the trainer's extractors, or effect mode's
SUBTYPES = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}
# What each numeric option accepts (realtime.shared_options.check_ranges).
OPTION_RANGES = {
    **SHARED_RANGES,
    "note": MIDI_NOTE_RANGE,
    "stages": (2, 1024, "stages"),
    "stage_seconds": (0.01, 60.0, "s"),
    "silence": (0.0, 60.0, "s"),
    "grow_steps": (0, 100_000, "steps"),
    "texture_rate": param_range("texture_rate"),
    "texture_seconds": (0.1, 600.0, "s"),
    "tail": (0.0, 60.0, "s"),
    "noise": param_range("noise_db"),
    "blocksize": (1, 65536, "samples"),
}


def demo_model_path() -> Path:
    return Path(__file__).parent / "assets" / "demo.onnx"


def build_parser() -> argparse.ArgumentParser:
    from core.growth import STRATEGIES

    p = command_parser(
        "grow-render",
        description="Render the live engine's sound offline to a WAV file, sample for sample "
        "what grow-live would play for the same controls. Four modes: --grow renders the "
        "growth stages (one held note per stage, the seeds' grower), --score plays a JSON note "
        "list or a MIDI file, --input resynthesizes a recording (its pitch and loudness, tracked "
        "with the model's own extractors, played with the model's timbre: timbre transfer), "
        "--osc-log replays a session recorded by grow-live; --texture plays the model's texture "
        "NCA as it grows from its seed (alone on a held note, or under --input or --score). "
        "Without --model the bundled demo model (a flute) plays.",
        examples=[
            "grow-render --grow nca --out growth.wav",
            "grow-render --model m.onnx --input phrase.wav --out resynthesis.wav",
            "grow-render --model m.onnx --score song.mid --growth per-note --out song.wav",
            "grow-render --score tune.json --out tune.wav   # JSON: see --score",
            "grow-render --model m.onnx --texture --out texture.wav",
        ],
        outputs="the WAV file given by --out (written atomically; --png adds a picture)",
        next_step="listen to it; play the model live with grow-live --model m.onnx",
    )
    p.add_argument("--model", type=Path, help="artifact from grow-export (default: demo model)")
    p.add_argument("--out", type=Path, required=True, help="WAV file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--grow",
        choices=STRATEGIES,
        metavar="STRATEGY",
        help=f"render the growth stages with this strategy: {', '.join(STRATEGIES)}",
    )
    mode.add_argument(
        "--score",
        type=Path,
        help="MIDI file (.mid) or JSON note list to play: "
        '[{"time": 0, "duration": 0.5, "note": "A4", "velocity": 0.8}, ...] with time and '
        "duration in seconds, note a MIDI number (fractions: microtonal) or a name (C4 = 60, "
        "F#3, Bb2), optional velocity 0..1, loudness_db, timbre",
    )
    mode.add_argument("--input", type=Path, help="audio to resynthesize with the model's timbre")
    mode.add_argument("--osc-log", type=Path, help="control log from grow-live --record-osc")
    transfer = p.add_argument_group("--input")
    transfer.add_argument(
        "--tracker",
        choices=TRACKERS,
        default="model",
        help="model: the extractors the model was trained with, over the whole file (centred "
        "frames, aligned with the input); streaming: grow-live --effect's trackers, causal, "
        "block by block, so the render is what effect mode plays for this input, as late as "
        "live (the gate then defaults to the live one)",
    )
    add_tracking_options(transfer, streaming_note="--tracker streaming")
    grow = p.add_argument_group("--grow")
    grow.add_argument("--stages", type=int, default=32, help="growth stages (held notes)")
    grow.add_argument("--stage-seconds", type=float, default=0.5, help="length of each stage")
    grow.add_argument("--silence", type=float, default=0.2, help="seconds between stages")
    grow.add_argument(
        "--note",
        type=float,
        help="MIDI note (float = microtonal; default 69, with --texture the pitch it learned)",
    )
    grow.add_argument("--grow-steps", type=int, default=64, help="NCA steps taken over all stages")
    texture = p.add_argument_group("--texture")
    texture.add_argument(
        "--texture",
        action="store_true",
        help="play the model's texture NCA (grow-train --phase texture) growing from its seed",
    )
    texture.add_argument(
        "--texture-rate",
        type=float,
        default=SPECS["texture_rate"].default,
        help="its growth, steps/s",
    )
    texture.add_argument(
        "--texture-seconds",
        type=float,
        help="length of the held note (default: its growth's steps at the rate, then two loops)",
    )
    add_growth_and_gate(
        p,
        growth_default=None,
        default_note="off for --input and --score, free for --grow",
        gate_note="for --input with the model's tracker, the loudness floor + 6 dB (-94 for "
        "the usual -100 dB floor), which only digitally silent input reaches; "
        f"{SPECS['gate_db'].default:g} otherwise",
    )
    add_voices(
        p,
        default_note=f"{DEFAULT_VOICES} for --score, the session's for --osc-log, 1 for --grow "
        "(one note per stage) and --input (its one tracked pitch)",
    )
    p.add_argument("--tail", type=float, default=0.5, help="seconds after a score's last note")
    p.add_argument(
        "--loudness", type=float, default=SPECS["loudness_db"].default, help="dB fed to the decoder"
    )
    p.add_argument("--gain", type=float, default=0.0, help="master gain, dB")
    p.add_argument("--noise", type=float, default=0.0, help="gain of the noise branch, dB")
    p.add_argument(
        "--timbre",
        help="timbre preset, or 'input': z encoded from --input's own MFCCs, as the trainer's "
        "reconstruction does (default for --input when the model has an encoder; else the "
        "first preset)",
    )
    p.add_argument(
        "--samplerate", type=int, help="output rate, Hz (default 48000, or the log's rate)"
    )
    p.add_argument(
        "--blocksize", type=int, default=512, help="samples per engine call (same output)"
    )
    p.add_argument("--format", choices=list(SUBTYPES), default="pcm24", help="WAV sample format")
    p.add_argument("--seed", type=int, default=0, help="noise and NCA randomness")
    p.add_argument(
        "--provider", choices=["cpu", "cuda"], default="cpu", help="onnxruntime provider"
    )
    p.add_argument("--png", type=Path, help="also write a spectrogram + growth picture here")
    return p


def input_features(args: argparse.Namespace, meta: ArtifactMetadata) -> Features:
    """Track the input with the extractors and settings the model was trained with."""
    from core.audio import load_audio
    from core.features import FeatureConfig, compute_features

    audio = load_audio(args.input, sample_rate=meta.sample_rate)
    config = FeatureConfig(**meta.features)  # exactly the settings the model was trained with
    if config.f0_tracker == "crepe":
        raise ParameterError(
            "this model was trained with the CREPE pitch tracker, which needs torch; the engine "
            "tracks pyin or yin: retrain with grow-train --f0-tracker pyin to play --input"
        )
    try:
        return compute_features(audio, config)
    except GrowError as err:
        raise GrowError(f"{args.input}: {err}") from None


def resynthesis_events(
    args: argparse.Namespace, engine: Engine, features: Features
) -> tuple[list, float]:
    """Set the engine up to follow the input: one pitch and loudness control per frame."""
    from realtime.effect import follow_input
    from realtime.render import digital_silence_frames, start_input

    follow_input(engine)
    return start_input(
        engine,
        features.f0_hz,
        features.loudness_db,
        frame_rate=engine.meta.frame_rate,
        pitch_shift=args.pitch_shift or 0.0,
        loudness_offset=args.loudness_offset or 0.0,
        digital_silence=digital_silence_frames(features.audio, engine.meta.hop),
    )


def check_tracker(args: argparse.Namespace) -> bool:
    """Whether --input runs the streaming trackers; ParameterError for their options without
    them, or an input timbre (the whole file's MFCCs) with them."""
    if args.tracker == "streaming":
        if args.input is None:
            raise ParameterError("--tracker streaming tracks --input: give it one")
        if args.timbre == "input":
            raise ParameterError(
                "--timbre input encodes the whole file's MFCCs, which effect mode never sees: "
                "with --tracker streaming choose a preset"
            )
        return True
    for option in ("mix", "f0_min", "f0_max"):
        if getattr(args, option) is not None:
            raise ParameterError(f"--{option.replace('_', '-')} needs --tracker streaming")
    if args.input is None:
        for option in ("pitch_shift", "loudness_offset"):
            if getattr(args, option) is not None:
                raise ParameterError(f"--{option.replace('_', '-')} needs --input")
    return False


def voice_count(args: argparse.Namespace, log: ControlLog | None) -> int:
    """--voices, or what the mode implies; ParameterError where the mode fixes it otherwise."""
    if args.input is not None:
        if args.voices not in (None, 1):
            raise ParameterError("--input drives one voice (its tracked pitch): leave out --voices")
        return 1
    if log is not None:
        if args.voices not in (None, log.voices):
            plural = "s" if log.voices != 1 else ""
            raise ParameterError(
                f"{args.osc_log} was played with {log.voices} voice{plural}: a replay needs the "
                "same (leave out --voices)"
            )
        return log.voices
    if args.voices is not None:
        return int(args.voices)
    return 1 if args.grow else DEFAULT_VOICES


def check_modes(args: argparse.Namespace) -> None:
    """One mode, or --texture (alone or with --input or --score); ParameterError otherwise."""
    if not (args.grow or args.score or args.input or args.osc_log or args.texture):
        raise ParameterError("give one of --grow, --score, --input, --osc-log or --texture")
    if args.texture and (args.grow or args.osc_log):
        given = "--grow" if args.grow else "--osc-log"
        raise ParameterError(f"--texture plays alone or under --input or --score, not with {given}")
    if not args.texture:
        for option in ("texture_seconds",):
            if getattr(args, option) is not None:
                raise ParameterError(f"--{option.replace('_', '-')} needs --texture")


def texture_note(args: argparse.Namespace, meta: ArtifactMetadata) -> tuple[float, float]:
    """The held note of a --texture render alone: (MIDI note, seconds); by default the pitch
    the texture learned, long enough to hear its growth and then two loops of it."""
    import math

    from export.contract import TextureSpec

    if not meta.texture:
        raise ParameterError(
            "this model has no texture NCA: train one (grow-train --out RUN --resume --phase "
            "texture), then export the run again"
        )
    spec = TextureSpec.of(meta)
    hz = float(spec.metrics.get("held_note_hz") or 440.0)
    note = args.note if args.note is not None else 69.0 + 12.0 * math.log2(hz / 440.0)
    loop_s = spec.control_frames / meta.frame_rate
    growth_s = spec.steps / max(args.texture_rate, 1e-3)
    seconds = args.texture_seconds or min(growth_s, 300.0) + 2 * loop_s
    return note, seconds


def run(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np
    import soundfile as sf

    from core.atomic import atomic_path
    from core.outputs import check_output
    from realtime.commands import NoteOn
    from realtime.control_log import file_sha256, read_control_log
    from realtime.engine import SUPPORTED_RATES, Engine
    from realtime.fade import fade_curve
    from realtime.gate import HYSTERESIS_DB
    from realtime.midi_file import parse_midi_file
    from realtime.model import load_model
    from realtime.render import grow_events, held_note, render, texture_start
    from realtime.render_picture import require_matplotlib
    from realtime.score import MAX_SECONDS, Event, parse_json_score
    from realtime.timbre_encoder import encode_timbre, has_encoder

    check_ranges(args, OPTION_RANGES)
    check_modes(args)
    check_output(args.out, option="--out", suffixes=(".wav",), force=args.force)
    if args.png is not None:
        check_output(args.png, option="--png", suffixes=(".png",), force=args.force)
        require_matplotlib("--png")
    log = read_control_log(args.osc_log) if args.osc_log else None
    voices = voice_count(args, log)
    model_path = args.model or demo_model_path()
    model = load_model(model_path, provider=args.provider)
    rate = args.samplerate or (log.sample_rate if log else 48000)
    if rate not in SUPPORTED_RATES:
        raise ParameterError(
            f"--samplerate {rate} must be one of {', '.join(map(str, SUPPORTED_RATES))} Hz"
        )
    seed = log.seed if log else args.seed
    if args.grow and args.growth == "off":
        raise ParameterError("--grow renders the growth: it cannot take --growth off")
    growth = args.growth or ("free" if args.grow or log else "off")
    streaming = check_tracker(args)
    features = input_features(args, model.meta) if args.input and not streaming else None
    timbre = args.timbre
    if timbre is None and features is not None and has_encoder(model.meta):
        timbre = "input"
    if timbre == "input" and features is None:
        raise ParameterError("--timbre input needs --input (its MFCCs give the timbre)")
    z = encode_timbre(model.meta, features.mfcc) if timbre == "input" and features else None
    engine = Engine(
        model,
        sample_rate=rate,
        seed=seed,
        trace=args.png is not None,
        growth=growth,
        timbre=z,
        voices=voices,
    )
    if args.texture:
        texture_note(args, model.meta)  # refused here unless the model has a texture
        for command in texture_start(args.texture_rate):
            engine.apply(command)
        engine.smoother.jump("texture_blend")
    if log is None:  # a replayed session carries its own settings
        engine.params.set("loudness_db", args.loudness)
        engine.params.set("gain_db", args.gain)
        gate = args.gate if args.gate is not None else SPECS["gate_db"].default
        if args.gate is None and features is not None:
            # Closed only at the loudness floor, which only digitally silent input reaches
            # (realtime.render.start_input), where a model that never learned silence still
            # plays a quiet tone. A gate at -70 also cut faint tails of real recordings and cost
            # 5-25 % of spectral distance against the trainer's reconstruction (bench/fidelity).
            gate = float(model.meta.features["loudness_floor_db"]) + HYSTERESIS_DB
        engine.params.set("gate_db", gate)
        engine.params.set("noise_db", args.noise)
        engine.smoother.jump("noise_db")
        if timbre is not None and timbre != "input":
            engine.select_timbre(timbre, now=True)
    if log is not None:
        if log.model_sha256 and log.model_sha256 != file_sha256(model_path):
            warnings.warn(
                f"{args.osc_log} was recorded with another model than {model_path}", stacklevel=1
            )
        events = [Event(c.position / log.sample_rate, 1, c.command) for c in log.controls]
        seconds = log.end / log.sample_rate
    elif args.grow:
        events, seconds = grow_events(
            args.grow,
            n_harmonics=model.meta.n_harmonics,
            stages=args.stages,
            stage_s=args.stage_seconds,
            gap_s=args.silence,
            note=69.0 if args.note is None else args.note,
            grow_steps=args.grow_steps,
        )
    elif args.texture and not (args.input or args.score):
        note, seconds = texture_note(args, model.meta)
        events = held_note(note, seconds)
    elif features is not None:
        events, seconds = resynthesis_events(args, engine, features)
    elif streaming:
        events, seconds = [], 0.0  # (render_through below)
    else:
        is_midi = args.score.suffix.lower() in (".mid", ".midi", ".smf")
        events = (
            parse_midi_file(args.score)
            if is_midi
            else parse_json_score(args.score, presets=engine.preset_names)
        )
        if not any(isinstance(e.command, NoteOn) for e in events):
            raise ParameterError(f"{args.score}: the score holds no notes")
        seconds = max((e.time_s for e in events), default=0.0) + args.tail
        if seconds > MAX_SECONDS:
            raise ParameterError(
                f"{args.score} lasts {seconds / 60:.0f} min; a render holds at most "
                f"{MAX_SECONDS / 60:.0f} min (it is kept in memory whole)"
            )
    progress = None
    if sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            print(f"\rrendering {100 * done // total:3d}%", end="", file=sys.stderr)

    if streaming:
        from core.audio import load_audio
        from realtime.render import render_through
        from realtime.shared_options import effect_chain

        chain = effect_chain(engine, args)
        heard = load_audio(args.input, sample_rate=rate)
        audio = render_through(chain, heard, blocksize=args.blocksize, progress=progress)
    else:
        audio = render(engine, events, seconds, blocksize=args.blocksize, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if log is not None and log.fade:  # the session's closing fade, at this render's rate
        fade = max(1, round(log.fade * rate / log.sample_rate))
        audio[audio.shape[0] - fade :] *= fade_curve(fade)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    with atomic_path(args.out) as tmp:
        sf.write(tmp, audio, rate, subtype=SUBTYPES[args.format], format="WAV")
    if args.png is not None:
        from realtime.render_picture import write_render_picture

        write_render_picture(args.png, audio, engine)
    clipped = " (clipped: lower --loudness)" if peak > 1.0 else ""
    print(
        f"wrote {args.out}: {audio.shape[0] / rate:.2f} s at {rate} Hz, "
        f"peak {20 * np.log10(max(peak, 1e-9)):.1f} dBFS{clipped}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("grow-render", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
