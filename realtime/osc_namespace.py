"""The OSC namespace of ARCHITECTURE.md as a table: address -> argument check -> engine control.

Each route turns the arguments of a decoded message into one engine command (realtime.commands)
or refuses them with OscValueError naming the problem. Numbers may come as int or float (controller
apps send either); NaN and inf are refused; out-of-range values are clamped (and counted). A
trigger address also accepts one number, so a controller's button works: 0 (release) is ignored.
docs/OSC.md is generated from this table (`python -m realtime.osc_docs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import GrowError, ParameterError
from realtime.commands import (
    MAX_HARMONIC,
    Command,
    MorphTimbre,
    NcaPerturb,
    NcaReset,
    NcaStep,
    NoteOff,
    NoteOn,
    SelectTimbre,
    SetGrowth,
    SetParam,
    TexturePerturb,
    TextureReset,
)
from realtime.osc_wire import OscArg
from realtime.params import SPECS


class OscValueError(GrowError):
    """A well-formed message whose arguments are wrong for its address."""


@dataclass
class Clamp:
    """Counts the values clamped into range (read by the server's counters)."""

    count: int = 0

    def __call__(self, value: float, low: float, high: float) -> float:
        if value < low or value > high:
            self.count += 1
            return min(max(value, low), high)
        return value


@dataclass(frozen=True)
class Route:
    address: str
    signature: str  # for the docs: "f note [f velocity]"
    doc: str
    convert: Callable[[tuple[OscArg, ...], Sequence[str], Clamp], Command | None]
    parameter: str | None = None  # the parameter it sets (unit, range, default, smoothing)


def number(args: tuple[OscArg, ...], index: int, name: str) -> float:
    if index >= len(args):
        raise OscValueError(f"missing argument {name}")
    value = args[index]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OscValueError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise OscValueError(f"{name}={value} is not finite")
    return float(value)


def arity(args: tuple[OscArg, ...], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise OscValueError(f"takes {expected} arguments, got {len(args)}")


def parameter(name: str) -> Callable[[tuple[OscArg, ...], Sequence[str], Clamp], Command]:
    spec = SPECS[name]

    def convert(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
        arity(args, 1, 1)
        return SetParam(name, clamp(number(args, 0, spec.unit), spec.low, spec.high))

    return convert


def parameter_route(address: str, name: str, signature: str) -> Route:
    return Route(address, signature, SPECS[name].doc, parameter(name), name)


def trigger(
    make: Callable[[], Command],
) -> Callable[[tuple[OscArg, ...], Sequence[str], Clamp], Command | None]:
    def convert(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command | None:
        arity(args, 0, 1)
        if args and number(args, 0, "button") == 0.0:
            return None  # a controller button's release
        return make()

    return convert


def note_on(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 1, 2)
    note = clamp(number(args, 0, "note"), 0.0, 127.0)
    velocity = clamp(number(args, 1, "velocity"), 0.0, 1.0) if len(args) > 1 else 1.0
    if velocity == 0.0:  # as in MIDI (and an on-screen keyboard's key release): note off
        return NoteOff(note)
    return NoteOn(note, velocity)


def note_off(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 0, 1)
    return NoteOff(number(args, 0, "note")) if args else NoteOff()


def timbre(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 1, 1)
    value = args[0]
    if isinstance(value, str):
        if value not in presets:
            raise OscValueError(f"unknown timbre {value!r}")
        return SelectTimbre(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return SelectTimbre(presets[int(clamp(value, 0, len(presets) - 1))])
    position = clamp(number(args, 0, "position"), 0.0, 1.0)
    return SelectTimbre(presets[round(position * (len(presets) - 1))])


def morph(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 3, 3)
    a, b = args[0], args[1]
    for name in (a, b):
        if not isinstance(name, str) or name not in presets:
            raise OscValueError(f"unknown timbre {name!r}")
    return MorphTimbre(str(a), str(b), clamp(number(args, 2, "x"), 0.0, 1.0))


def nca_step(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 0, 1)
    n = number(args, 0, "n") if args else 1.0
    if n != int(n):
        raise OscValueError(f"n={n} must be a whole number of steps")
    return NcaStep(int(clamp(n, 0, 1000)))


def growth(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 1, 1)
    mode = args[0]
    if not isinstance(mode, str):
        raise OscValueError(f"growth must be a mode name, got {type(mode).__name__}")
    return SetGrowth(mode)


def nca_perturb(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 1, 1)
    return NcaPerturb(clamp(number(args, 0, "fraction"), 0.0, 1.0))


def texture_perturb(args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp) -> Command:
    arity(args, 1, 4)
    if len(args) == 3:
        raise OscValueError("takes the loop range alone, or with a harmonic range low, high")
    if len(args) == 1:  # a controller's button: the loop's first part, every cell
        return TexturePerturb(0.0, clamp(number(args, 0, "end"), 0.0, 1.0))
    start = clamp(number(args, 0, "start"), 0.0, 1.0)
    end = clamp(number(args, 1, "end"), 0.0, 1.0)
    if len(args) == 2:
        return TexturePerturb(start, end)
    low, high = number(args, 2, "low"), number(args, 3, "high")
    if low != int(low) or high != int(high):
        raise OscValueError(f"harmonics {low:g}, {high:g} must be whole numbers")
    low, high = clamp(low, 1, MAX_HARMONIC), clamp(high, 1, MAX_HARMONIC)
    return TexturePerturb(start, end, int(min(low, high)), int(max(low, high)))


STATUS_ADDRESS = "/grow/status"
STATUS_FIELDS = (  # the reply's arguments, in order (realtime.live_cli.status_values)
    ("f time_s", "seconds played"),
    ("f pitch_hz", "pitch of the current control frame (Hz)"),
    ("f loudness_db", "smoothed loudness control (dB)"),
    ("i nca_step", "NCA steps taken since the last reset"),
    ("f nca_rate", "NCA steps per second"),
    ("f mask_blend", "0 = full learned timbre, 1 = NCA mask"),
    ("i underflows", "audio underflows since the start"),
    ("f callback_load_pct", "largest callback time of the last 256 blocks, % of a block"),
    ("i osc_accepted", "OSC messages accepted"),
    ("i osc_rejected", "OSC messages (or datagrams) rejected"),
    ("i gate", "1 while a note sounds (attack, decay, sustain or release), else 0"),
    ("i in_range", "1 while the pitch lies in the model's trained range (or it is unknown)"),
)


ROUTES = {
    route.address: route
    for route in (
        Route(
            "/grow/note",
            "f note [f velocity]",
            "MIDI note (float = microtonal), gate on, on a voice of its own (one voice: legato); "
            "velocity 0..1 (0 = this note off)",
            note_on,
        ),
        Route(
            "/grow/note/off",
            "[f note]",
            "release every note; with a note, only the voice playing it",
            note_off,
        ),
        parameter_route("/grow/pitch", "pitch_hz", "f hz"),
        parameter_route("/grow/bend", "bend_semitones", "f semitones"),
        parameter_route("/grow/loudness", "loudness_db", "f db"),
        parameter_route("/grow/gain", "gain_db", "f db"),
        parameter_route("/grow/noise", "noise_db", "f db"),
        Route("/grow/timbre", "i index, s name or f 0..1", "select a timbre preset", timbre),
        Route("/grow/timbre/morph", "s a, s b, f x", "morph between two presets (x 0..1)", morph),
        parameter_route("/grow/nca/rate", "nca_rate", "f steps_per_s"),
        Route(
            "/grow/nca/step", "[i n]", "advance n NCA steps now (default 1, at most 1000)", nca_step
        ),
        Route(
            "/grow/nca/reset", "[f button]", "reseed: back to the fundamental", trigger(NcaReset)
        ),
        Route(
            "/grow/nca/perturb",
            "f fraction",
            "damage that fraction of cells; the NCA regrows",
            nca_perturb,
        ),
        parameter_route("/grow/mask/blend", "mask_blend", "f 0..1"),
        Route(
            "/grow/growth",
            "s mode",
            "off (full timbre), free (each voice grows while it sounds), per-note (each note "
            "after silence grows from its fundamental) or shared (one mask for every voice)",
            growth,
        ),
        parameter_route("/grow/texture/blend", "texture_blend", "f 0..1"),
        parameter_route("/grow/texture/rate", "texture_rate", "f steps_per_s"),
        Route(
            "/grow/texture/reset",
            "[f button]",
            "reseed the texture NCA: it grows again from the fundamental",
            trigger(TextureReset),
        ),
        Route(
            "/grow/texture/perturb",
            "[f start,] f end [i low, i high]",
            "damage the texture's grid from start (default 0) to end of its loop (0..1; wraps "
            "when end <= start), harmonics low..high (1 = the fundamental; without them every "
            "cell, the noise too); it regrows",
            texture_perturb,
        ),
        parameter_route("/grow/gate", "gate_db", "f db"),
        parameter_route("/grow/effect/pitch_shift", "pitch_shift", "f semitones"),
        parameter_route("/grow/effect/loudness_offset", "loudness_offset", "f db"),
        parameter_route("/grow/effect/mix", "effect_mix", "f 0..1"),
    )
}


def translate(
    address: str, args: tuple[OscArg, ...], presets: Sequence[str], clamp: Clamp
) -> Command | None:
    """The engine command for one message; OscValueError if the address or arguments are bad
    (a command refusing its values counts as bad arguments)."""
    route = ROUTES.get(address)
    if route is None:
        raise OscValueError("unknown address")
    try:
        return route.convert(args, presets, clamp)
    except ParameterError as err:
        raise OscValueError(str(err)) from None
