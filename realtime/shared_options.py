"""Command-line options that grow-live and grow-render share, defined once."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.errors import ParameterError
from realtime.params import GROWTH_MODES, SPECS
from realtime.synth import SEED_RANGE
from realtime.tracker import MAX_F0_HZ, MIN_F0_HZ

if TYPE_CHECKING:
    from realtime.effect import EffectChain
    from realtime.engine import Engine
from realtime.voice import DEFAULT_VOICES, MAX_VOICES

# An option's accepted values: (lowest, highest, unit), both ends included.
Range = tuple[float, float, str]
MIDI_NOTE_RANGE: Range = (0, 127, "(MIDI note)")


def param_range(name: str) -> Range:
    """The range of a parameter of the store (realtime.params), as an option accepts it."""
    spec = SPECS[name]
    return (spec.low, spec.high, spec.unit)


SEED_OPTION_RANGE: Range = (SEED_RANGE[0], SEED_RANGE[1], "")
# The numeric options both CLIs have (argparse dest -> range).
SHARED_RANGES: dict[str, Range] = {
    "loudness": param_range("loudness_db"),
    "gain": param_range("gain_db"),
    "gate": param_range("gate_db"),
    "seed": SEED_OPTION_RANGE,
    "voices": (1, MAX_VOICES, "voices"),
    "pitch_shift": param_range("pitch_shift"),
    "loudness_offset": param_range("loudness_offset"),
    "mix": param_range("effect_mix"),
    "f0_min": (MIN_F0_HZ, MAX_F0_HZ, "Hz"),
    "f0_max": (MIN_F0_HZ, MAX_F0_HZ, "Hz"),
}


def check_ranges(args: argparse.Namespace, ranges: Mapping[str, Range]) -> None:
    """ParameterError naming the first option outside its range, as the user typed it
    (`--loudness 20 must be in -100..0 dB`); options left at None are not checked.

    ranges: argparse dest -> (lowest, highest, unit).
    """
    for dest, (low, high, unit) in ranges.items():
        value = getattr(args, dest)
        if value is None or (math.isfinite(value) and low <= value <= high):
            continue
        option = "--" + dest.replace("_", "-")
        unit_text = f" {unit}" if unit else ""
        raise ParameterError(
            f"{option} {number(value)} must be in {number(low)}..{number(high)}{unit_text}"
        )


def number(value: float) -> str:
    """An option's value as the user would write it: 60, 0.5, -1e-06."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def add_voices(group: argparse._ActionsContainer, *, default_note: str = "") -> None:
    """--voices N (default DEFAULT_VOICES; None where `default_note` says the caller chooses)."""
    group.add_argument(
        "--voices",
        type=int,
        default=None if default_note else DEFAULT_VOICES,
        help=f"voices that can sound at once, 1..{MAX_VOICES}: overlapping notes play together, "
        "a note beyond them steals the oldest released voice (else the oldest) with a short "
        f"fade; 1 = monophonic legato (default {default_note or DEFAULT_VOICES})",
    )


GROWTH_HELP = (
    "off: the full learned timbre; free: the NCA grows while notes sound (its clock stops in "
    "silence; each voice its own); per-note: every note after silence grows from its "
    "fundamental; shared: one mask for every voice, grown while any note sounds"
)


def add_growth_and_gate(
    group: argparse._ActionsContainer,
    *,
    growth_default: str | None,
    default_note: str = "",
    gate_note: str = "",
) -> None:
    """--growth (default `growth_default`; None: the caller chooses, as `default_note` says) and
    --gate (default the parameter's, unless `gate_note` says the caller chooses)."""
    default = f" (default {growth_default or default_note})"
    group.add_argument(
        "--growth", choices=GROWTH_MODES, default=growth_default, help=GROWTH_HELP + default
    )
    gate_default = None if gate_note else SPECS["gate_db"].default
    group.add_argument(
        "--gate",
        type=float,
        default=gate_default,
        help="silence gate, dB: where the loudness falls 6 dB below it the output fades to exact "
        f"silence (default {gate_note or gate_default}; -120 = off)",
    )


def add_tracking_options(group: argparse._ActionsContainer, *, streaming_note: str = "") -> None:
    """What the tracked input becomes (--pitch-shift, --loudness-offset) and, for the streaming
    trackers (`streaming_note` says when they run), --mix and the pitch range to look in."""
    group.add_argument("--pitch-shift", type=float, help="transpose the input, semitones (0)")
    group.add_argument(
        "--loudness-offset", type=float, help="added to the input's loudness, dB (0)"
    )
    group.add_argument(
        "--mix", type=float, help=f"{streaming_note}: 0 = the dry input, 1 = the model only (1)"
    )
    for bound, word in (("min", "lowest"), ("max", "highest")):
        group.add_argument(
            f"--f0-{bound}",
            type=float,
            help=f"{streaming_note}: {word} input pitch to track, Hz (default: the model's "
            "trained range an octave wider, moved by --pitch-shift; a higher --f0-min tracks "
            "with less delay)",
        )


def effect_chain(engine: Engine, args: argparse.Namespace) -> EffectChain:
    """The streaming trackers and the chain for engine, from add_tracking_options' options."""
    from realtime.effect import EffectChain, default_pitch_range
    from realtime.tracker import StreamingTracker

    shift = args.pitch_shift or 0.0
    engine.params.set("pitch_shift", shift)
    engine.params.set("loudness_offset", args.loudness_offset or 0.0)
    engine.params.set("effect_mix", 1.0 if args.mix is None else args.mix)
    low, high = default_pitch_range(engine, shift)
    ceiling = min(MAX_F0_HZ, engine.sample_rate / 4)
    if args.f0_min is not None:  # the other end follows, at least an octave away
        low, high = args.f0_min, min(max(high, 2 * args.f0_min), ceiling)
    if args.f0_max is not None:
        if args.f0_min is None:
            low = max(min(low, args.f0_max / 2), MIN_F0_HZ)
        high = args.f0_max
    try:
        tracker = StreamingTracker(
            engine.sample_rate,
            f0_min_hz=low,
            f0_max_hz=high,
            floor_db=float(engine.meta.features.get("loudness_floor_db", -100.0)),
        )
    except ParameterError as err:
        given = args.f0_min is not None or args.f0_max is not None
        raise ParameterError(f"--f0-min/--f0-max: {err}" if given else str(err)) from None
    return EffectChain(engine, tracker)
