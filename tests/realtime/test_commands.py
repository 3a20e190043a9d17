"""Typed commands: what is valid is made, what is not is refused with a message naming it."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import ParameterError
from realtime.commands import (
    MorphTimbre,
    NcaPerturb,
    NcaReset,
    NcaStep,
    NoteOff,
    NoteOn,
    SelectTimbre,
    SetGrowth,
    SetMask,
    SetParam,
    command_from,
)
from realtime.engine import Engine
from realtime.model import LoadedModel

VALID = [
    NoteOn(60.0),
    NoteOn(0.0, 0.0),
    NoteOn(127.0, 1.0),
    NoteOn(61.37, 0.5),  # microtonal
    NoteOff(),
    NoteOff(60.0),
    SetParam("gain_db", -3.0),
    SetParam("pitch_hz", 1e6),  # out of range: the parameter store clamps it (and counts)
    SelectTimbre("flute"),
    MorphTimbre("flute", "flute", 0.25),
    NcaReset(),
    NcaStep(0),
    NcaStep(10_000),
    NcaPerturb(1.0),
    SetMask((0.0, 0.5, 1.0)),
    SetGrowth("per-note"),
]

INVALID = [
    (lambda: NoteOn(128.0), "note=128 must be in 0..127"),
    (lambda: NoteOn(float("nan")), "note=nan must be a finite number"),
    (lambda: NoteOn(60.0, 1.5), "velocity=1.5 must be in 0..1"),
    (lambda: NoteOn("C4"), "note='C4' must be a finite number"),  # type: ignore[arg-type]
    (lambda: NoteOn(True), "note=True must be a finite number"),
    (lambda: NoteOff(float("inf")), "note=inf must be a finite number"),
    (lambda: SetParam("warp", 1.0), "unknown parameter 'warp'"),
    (lambda: SetParam("gain_db", float("nan")), "gain_db=nan must be a finite number"),
    (lambda: SelectTimbre(""), "timbre '' must be a preset name"),
    (lambda: MorphTimbre("a", "b", 2.0), "morph position=2 must be in 0..1"),
    (lambda: NcaStep(-1), "nca steps=-1 must be in 0..10000"),
    (lambda: NcaStep(2.5), "nca steps 2.5 must be a whole number"),  # type: ignore[arg-type]
    (lambda: NcaPerturb(-0.1), "perturb fraction=-0.1 must be in 0..1"),
    (lambda: SetMask(()), "a mask must be a non-empty tuple"),
    (lambda: SetMask((0.5, 1.5)), "mask value=1.5 must be in 0..1"),
    (lambda: SetGrowth("sideways"), "growth 'sideways' must be one of off, free, per-note"),
]


@pytest.mark.parametrize("command", VALID, ids=repr)
def test_valid_commands_are_made_and_frozen(command: object) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.x = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("make", "message"), INVALID)
def test_invalid_commands_name_the_problem(make: object, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        make()  # type: ignore[operator]
    assert message in str(caught.value)


@pytest.mark.parametrize("command", VALID, ids=repr)
def test_the_log_spelling_gives_the_same_command(command: object) -> None:
    assert command_from(command.action, command.args()) == command  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("action", "args", "message"),
    [
        ("warp", [], "unknown action 'warp'"),
        ("gain_db", [], "gain_db takes 1 argument, got 0"),
        ("note_on", [60, 1, 2], "note_on cannot take the arguments [60, 1, 2]"),
        ("set_mask", [0.5], "set_mask takes 1 argument, a list of numbers"),
        ("set_mask", [["x"]], "a mask must be numbers"),
        ("nca_step", ["many"], "nca steps='many' must be a finite number"),
    ],
)
def test_bad_log_spellings_are_named(action: str, args: list, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        command_from(action, args)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("action", "args", "expected"),
    [
        ("nca_step", [20000], NcaStep(10_000)),
        ("nca_step", [-1], NcaStep(0)),
        ("nca_step", [2.5], NcaStep(2)),
        ("set_mask", [[0.5, 1.3, -0.2]], SetMask((0.5, 1.0, 0.0))),
        ("morph_timbre", ["a", "b", 1.5], MorphTimbre("a", "b", 1.0)),
        ("nca_perturb", [1.2], NcaPerturb(1.0)),
        ("note_on", [130, 1.5], NoteOn(127.0, 1.0)),
    ],
)
def test_a_version_1_log_replays_as_its_engine_clamped(
    action: str, args: list, expected: object
) -> None:
    """The engine that wrote version 1 logs clamped these values; reading them does the same."""
    assert command_from(action, args) == expected


def test_a_growth_strategy_mask_is_clipped_into_range() -> None:
    assert SetMask.of([-0.5, 0.25, 3.0]) == SetMask((0.0, 0.25, 1.0))
    with pytest.raises(ParameterError, match="mask value=nan"):
        SetMask.of([0.5, float("nan")])


def test_the_engine_checks_what_depends_on_the_model(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=48000)
    with pytest.raises(ParameterError, match="unknown timbre 'oboe'"):
        engine.apply(SelectTimbre("oboe"))
    with pytest.raises(ParameterError, match="unknown timbre 'oboe'"):
        engine.apply(MorphTimbre(engine.preset_names[0], "oboe", 0.5))
    with pytest.raises(ParameterError, match=f"{demo.meta.n_harmonics} harmonics"):
        engine.apply(SetMask((0.5,) * (demo.meta.n_harmonics + 1)))
    with pytest.raises(ParameterError, match="not an engine command"):
        engine.apply(("note_on", (60.0,)))  # type: ignore[arg-type]
    engine.apply(SetParam("pitch_hz", 1e6))
    assert engine.params.get("pitch_hz") == 4000.0 and engine.params.clamped == 1
