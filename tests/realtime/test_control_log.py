"""Controls posted from another thread, recorded with their sample positions, replay exactly."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from core.errors import ParameterError
from realtime.commands import (
    Command,
    NcaPerturb,
    NcaReset,
    NcaStep,
    NoteOff,
    NoteOn,
    SelectTimbre,
    SetParam,
    command_from,
)
from realtime.control_log import ControlLogWriter, read_control_log
from realtime.engine import Engine
from realtime.model import LoadedModel
from realtime.render import render
from realtime.render_cli import demo_model_path
from realtime.score import Event

# (block index, command): what a performer's OSC client might send
POSTS: list[tuple[int, Command]] = [
    (0, SetParam("loudness_db", -18.0)),
    (3, NoteOn(62.0, 0.8)),
    (40, SetParam("bend_semitones", 0.7)),
    (41, SetParam("nca_rate", 30.0)),
    (90, NoteOn(67.5, 1.0)),
    (91, SelectTimbre("nope")),  # rejected when applied (not this model's): not recorded
    (120, SetParam("mask_blend", 0.3)),
    (150, NcaPerturb(0.5)),
    (151, NcaStep(4)),
    (190, NoteOff(67.5)),
    (230, NcaReset()),
    (231, NoteOn(60.0, 0.5)),
]


def play_live(engine: Engine, blocks: int, blocksize: int) -> np.ndarray:
    """Post the controls from a second thread between blocks, as an OSC server would."""
    out = np.empty(blocks * blocksize, np.float32)
    for b in range(blocks):
        todo = [command for when, command in POSTS if when == b]
        if todo:
            poster = threading.Thread(target=lambda t=todo: [engine.post(c) for c in t])
            poster.start()
            poster.join()
        engine.process(blocksize, out=out[b * blocksize : (b + 1) * blocksize])
    return out


@pytest.mark.parametrize(("blocksize", "voices"), [(64, 1), (128, 4), (333, 4)])
def test_record_then_replay_gives_the_same_samples(
    demo: LoadedModel, tmp_path: Path, blocksize: int, voices: int
) -> None:
    live = Engine(demo, sample_rate=48000, seed=3, voices=voices)
    live.recorder = deque()
    played = play_live(live, 96000 // blocksize, blocksize)
    assert live.rejected == 1
    path = tmp_path / "session.jsonl"
    writer = ControlLogWriter(
        path, sample_rate=48000, seed=3, voices=voices, model_path=demo_model_path()
    )
    writer.drain(live.recorder)
    writer.close(end=played.shape[0], fade=0)
    assert writer.written == len(POSTS) - 1
    log = read_control_log(path)
    assert [c.command for c in log.controls] == [c for _, c in POSTS if c != SelectTimbre("nope")]
    assert log.voices == voices
    events = [Event(c.position / 48000, 1, c.command) for c in log.controls]
    engine = Engine(demo, sample_rate=48000, seed=log.seed, voices=log.voices)
    replay = render(engine, events, log.end / 48000)
    assert np.abs(played).max() > 0.01
    assert np.abs(replay - played).max() <= 1e-6
    # The recording matters: the same controls applied a frame late give another signal.
    late = [Event(e.time_s + 0.01, 1, e.command) for e in events]
    shifted = render(Engine(demo, sample_rate=48000, seed=3, voices=voices), late, log.end / 48000)
    assert np.abs(shifted - played).max() > 1e-3


def test_a_flood_is_spread_over_frames_and_bounded(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=48000)
    engine.start()  # frame 0 (a first process() would compute it too, draining once more)
    accepted = sum(engine.post(SetParam("loudness_db", -30.0 + i % 7)) for i in range(10_000))
    assert accepted == 4096  # the inbox is bounded
    engine.process(480)  # one segment computes one frame: at most 256 controls applied
    assert len(engine.inbox) == 4096 - 256
    engine.post(SelectTimbre("oboe"))  # a command this model cannot carry out
    engine.post(NcaStep(2))
    engine.process(48000)
    assert not engine.inbox and engine.rejected == 1


def write_log(path: Path, *lines: str) -> Path:
    header = (
        '{"format": "timbre-grower-control-log", "version": 1, "sample_rate": 48000, "seed": 0}'
    )
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"pos": 5, "action": "warp_drive", "args": [1]}'], "unknown action 'warp_drive'"),
        (['{"pos": -1, "action": "gain_db", "args": [1]}'], "'pos' must be a sample position"),
        (
            ['{"pos": 9, "action": "gain_db", "args": [1]}', '{"pos": 2, "action": "gain_db"}'],
            "must not go backwards",
        ),
        (['{"pos": 1, "action": "gain_db", "args": [NaN]}', "{}"], "must be a finite number"),
        (['{"pos": 1, "action": "gain_db", "args": [1, 2]}'], ":2: gain_db takes 1 argument"),
        (['{"pos": 1, "action": "note_on", "args": ["sixty"]}'], "note='sixty' must be a finite"),
        (['{"pos": 1, "action": "nca_step", "args": [1, 2, 3]}'], "nca_step cannot take"),
        (["not json", '{"end": 5}'], ":2: not a JSON line"),
        (['{"end": 5, "fade": 9}'], "0 <= fade <= end"),
    ],
)
def test_bad_logs_are_named(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        read_control_log(write_log(tmp_path / "bad.jsonl", *lines))


def test_every_command_survives_the_log_format() -> None:
    """command -> (action, args) -> JSON -> command is the identity, for every kind."""
    import json

    for _, command in POSTS:
        action, args = command.action, json.loads(json.dumps(list(command.args())))
        assert command_from(action, args) == command


def test_header_and_cut_short_logs(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(ParameterError, match="not a Timbre Grower control log"):
        read_control_log(other)
    future = tmp_path / "future.jsonl"
    future.write_text('{"format": "timbre-grower-control-log", "version": 7}\n')
    with pytest.raises(ParameterError, match="version 7; this build reads version 1"):
        read_control_log(future)
    cut = write_log(tmp_path / "cut.jsonl", '{"pos": 480, "action": "note_on", "args": [60, 1]}')
    cut.write_text(cut.read_text() + '{"pos": 960, "act')  # killed mid-line
    log = read_control_log(cut)
    assert [c.command for c in log.controls] == [NoteOn(60, 1)]
    assert (log.end, log.fade) == (480 + 48000, 0)
    assert log.voices == 1  # a header without "voices" was written by a one-voice engine


@pytest.mark.parametrize("voices", ["8", "0", "65", "true", "2.5"])
def test_a_bad_voice_count_in_the_header_is_named(tmp_path: Path, voices: str) -> None:
    path = tmp_path / "voices.jsonl"
    path.write_text(
        '{"format": "timbre-grower-control-log", "version": 1, "sample_rate": 48000, '
        f'"voices": {voices if voices != "8" else chr(34) + "8" + chr(34)}}}\n'
    )
    with pytest.raises(ParameterError, match=r":1: voices .* must be a whole number 1\.\.64"):
        read_control_log(path)
