"""Typed engine controls: one frozen dataclass per kind, checked once, when it is made.

Every source (OSC, live MIDI and MIDI files through one mapping, JSON scores, the control log,
the CLIs' starting settings) produces only these, and `Engine.apply` dispatches on the type. A
command that exists is valid: its limits are checked in `__post_init__` (continuous parameters:
the name and a finite value here, the range in realtime.params, which clamps and counts), with a
ParameterError that names the value. Sources that clamp (OSC clamps out-of-range values and
counts them) do so before they make the command.

On disk (the control log) a command is its action name and argument list, as in version 1 of the
log: `command.action`, `command.args()` and `command_from(action, args)`.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.errors import ParameterError
from realtime.params import GROWTH_MODES, SPECS

MAX_NCA_STEPS = 10_000  # steps one NcaStep may ask for
MAX_HARMONIC = 1000  # the highest harmonic number a TexturePerturb may name


def finite(name: str, value: Any) -> float:
    """`value` as a float; ParameterError unless it is a finite real number (bool is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name}={value!r} must be a finite number")
    return float(value)


def within(name: str, value: Any, low: float, high: float) -> float:
    number = finite(name, value)
    if not low <= number <= high:
        raise ParameterError(f"{name}={number:g} must be in {low:g}..{high:g}")
    return number


@dataclass(frozen=True)
class NoteOn:
    """Gate on at MIDI note `note` (0..127, fractions are microtonal), velocity 0..1."""

    action: ClassVar[str] = "note_on"
    note: float
    velocity: float = 1.0

    def __post_init__(self) -> None:
        within("note", self.note, 0.0, 127.0)
        within("velocity", self.velocity, 0.0, 1.0)

    def args(self) -> tuple:
        return (self.note, self.velocity)


@dataclass(frozen=True)
class NoteOff:
    """Release; with a note, only if it is the sounding one (a later note took over)."""

    action: ClassVar[str] = "note_off"
    note: float | None = None

    def __post_init__(self) -> None:
        if self.note is not None:
            finite("note", self.note)

    def args(self) -> tuple:
        return () if self.note is None else (self.note,)


@dataclass(frozen=True)
class SetParam:
    """Set continuous parameter `name` (realtime.params) to `value`, clamped into its range."""

    name: str
    value: float

    def __post_init__(self) -> None:
        if self.name not in SPECS:
            raise ParameterError(f"unknown parameter {self.name!r}; parameters: {', '.join(SPECS)}")
        finite(self.name, self.value)

    @property
    def action(self) -> str:
        """A parameter's action is its name (the control log's spelling)."""
        return self.name

    def args(self) -> tuple:
        return (self.value,)


@dataclass(frozen=True)
class SelectTimbre:
    """Move to timbre preset `name` (smoothly, from the next frame)."""

    action: ClassVar[str] = "select_timbre"
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ParameterError(f"timbre {self.name!r} must be a preset name")

    def args(self) -> tuple:
        return (self.name,)


@dataclass(frozen=True)
class MorphTimbre:
    """Move to the mix (1 - x) a + x b of two presets, x 0..1."""

    action: ClassVar[str] = "morph_timbre"
    a: str
    b: str
    x: float

    def __post_init__(self) -> None:
        for name in (self.a, self.b):
            if not isinstance(name, str) or not name:
                raise ParameterError(f"timbre {name!r} must be a preset name")
        within("morph position", self.x, 0.0, 1.0)

    def args(self) -> tuple:
        return (self.a, self.b, self.x)


@dataclass(frozen=True)
class NcaReset:
    """Reseed the NCA: the mask goes back to the fundamental."""

    action: ClassVar[str] = "nca_reset"

    def args(self) -> tuple:
        return ()


@dataclass(frozen=True)
class NcaStep:
    """Advance the NCA `n` steps now (0..MAX_NCA_STEPS), one per control frame."""

    action: ClassVar[str] = "nca_step"
    n: int

    def __post_init__(self) -> None:
        steps = within("nca steps", self.n, 0, MAX_NCA_STEPS)
        if steps != int(steps):
            raise ParameterError(f"nca steps {self.n!r} must be a whole number")

    def args(self) -> tuple:
        return (int(self.n),)


@dataclass(frozen=True)
class NcaPerturb:
    """Damage that fraction (0..1) of the NCA's cells; it regrows."""

    action: ClassVar[str] = "nca_perturb"
    fraction: float

    def __post_init__(self) -> None:
        within("perturb fraction", self.fraction, 0.0, 1.0)

    def args(self) -> tuple:
        return (self.fraction,)


@dataclass(frozen=True)
class TextureReset:
    """Reseed the texture NCA: it grows again from the fundamental and the lowest noise band."""

    action: ClassVar[str] = "texture_reset"

    def args(self) -> tuple:
        return ()


@dataclass(frozen=True)
class TexturePerturb:
    """Damage a region of the texture's grid, which regrows: the loop from `start` to `end`
    (fractions 0..1 of the loop; wraps past the loop point when end <= start) and harmonics
    `low` to `high` (1 = the fundamental; 0, 0 = every cell, the noise bands too)."""

    action: ClassVar[str] = "texture_perturb"
    start: float
    end: float
    low: int = 0
    high: int = 0

    def __post_init__(self) -> None:
        within("perturb start", self.start, 0.0, 1.0)
        within("perturb end", self.end, 0.0, 1.0)
        for name, value in (("low", self.low), ("high", self.high)):
            number = within(f"perturb {name} harmonic", value, 0, MAX_HARMONIC)
            if number != int(number):
                raise ParameterError(f"perturb {name} harmonic {value!r} must be a whole number")
        if self.high < self.low:
            raise ParameterError(f"perturb harmonics {self.low}..{self.high}: high is below low")

    def args(self) -> tuple:
        return (self.start, self.end, int(self.low), int(self.high))


@dataclass(frozen=True)
class SetMask:
    """Write a mask [K] (values 0..1) into the NCA's mask channel: the fixed growth strategies
    (set the NCA rate to 0 so that the NCA does not change it)."""

    action: ClassVar[str] = "set_mask"
    mask: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.mask, tuple) or not self.mask:
            raise ParameterError("a mask must be a non-empty tuple of numbers")
        for value in self.mask:
            within("mask value", value, 0.0, 1.0)

    @classmethod
    def of(cls, mask: Any) -> SetMask:
        """From any array-like of numbers, clipped into 0..1 (a growth strategy's output)."""
        try:
            flat = np.asarray(mask, np.float64).ravel().tolist()
        except (TypeError, ValueError):
            raise ParameterError(f"a mask must be numbers, got {mask!r}") from None
        values = [finite("mask value", v) for v in flat]
        return cls(tuple(min(max(v, 0.0), 1.0) for v in values))

    def args(self) -> tuple:
        return (list(self.mask),)


@dataclass(frozen=True)
class SetGrowth:
    """How the NCA grows (realtime.engine): off, free, per-note or shared."""

    action: ClassVar[str] = "set_growth"
    mode: str

    def __post_init__(self) -> None:
        if self.mode not in GROWTH_MODES:
            raise ParameterError(f"growth {self.mode!r} must be one of {', '.join(GROWTH_MODES)}")

    def args(self) -> tuple:
        return (self.mode,)


Command = (
    NoteOn
    | NoteOff
    | SetParam
    | SelectTimbre
    | MorphTimbre
    | NcaReset
    | NcaStep
    | NcaPerturb
    | TextureReset
    | TexturePerturb
    | SetMask
    | SetGrowth
)
# The kinds by action name (parameters are SetParam by their own names).
BY_ACTION: dict[str, type] = {
    kind.action: kind for kind in typing.get_args(Command) if kind is not SetParam
}


def _clip(value: Any, low: float, high: float) -> Any:
    """A number clipped into [low, high]; anything else as it is (the command names it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return value
    return min(max(value, low), high)


def _as_logged(kind: type, args: list) -> list:
    """Arguments as the engine that wrote a version 1 log carried them out: it clamped what the
    commands now refuse (step counts, fractions, velocities, notes), so old logs replay alike."""
    if kind is NoteOn and args:
        return [_clip(args[0], 0.0, 127.0), *(_clip(a, 0.0, 1.0) for a in args[1:2]), *args[2:]]
    if kind is NcaStep and len(args) == 1 and not isinstance(args[0], bool):
        n = args[0]
        if isinstance(n, (int, float)) and math.isfinite(n):
            return [int(_clip(int(n), 0, MAX_NCA_STEPS))]
    if kind is NcaPerturb and len(args) == 1:
        return [_clip(args[0], 0.0, 1.0)]
    if kind is MorphTimbre and len(args) == 3:
        return [args[0], args[1], _clip(args[2], 0.0, 1.0)]
    return args


def command_from(action: str, args: tuple | list) -> Command:
    """The command a control log line (action, args) stands for, values clamped as the engine
    that wrote version 1 logs clamped them; ParameterError naming the problem otherwise (an
    unknown action, a wrong number or kind of arguments, a value that is not a finite number)."""
    if action in SPECS:
        if len(args) != 1:
            raise ParameterError(f"{action} takes 1 argument, got {len(args)}")
        return SetParam(action, args[0])
    kind = BY_ACTION.get(action)
    if kind is None:
        known = ", ".join([*BY_ACTION, *SPECS])
        raise ParameterError(f"unknown action {action!r}; actions: {known}")
    if kind is SetMask:
        if len(args) != 1 or not isinstance(args[0], (list, tuple)):
            raise ParameterError("set_mask takes 1 argument, a list of numbers")
        return SetMask.of(args[0])
    try:
        command: Command = kind(*_as_logged(kind, list(args)))
    except TypeError:
        raise ParameterError(f"{action} cannot take the arguments {list(args)!r}") from None
    return command
