"""The player's callback driven directly (as PortAudio would), the ring buffer against a list,
the MIDI mapping with real mido messages, the generated OSC docs and controller layout."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import mido
import numpy as np
import pytest

from core.errors import ParameterError
from realtime.commands import NoteOff, NoteOn, SetParam
from realtime.controller_layout import layout_path, render_layout
from realtime.engine import Engine
from realtime.midi_input import MidiInput, midi_control
from realtime.model import LoadedModel
from realtime.osc_docs import doc_path, render_osc_doc
from realtime.osc_namespace import ROUTES, STATUS_FIELDS, Clamp, translate
from realtime.player import LivePlayer
from realtime.ring import RingBuffer

OK = SimpleNamespace(output_underflow=False)


def test_ring_buffer_matches_a_list_under_random_push_and_pop() -> None:
    rng = np.random.default_rng(0)
    ring, counter = RingBuffer(100), 0
    reference: list[float] = []
    for _ in range(5000):
        if rng.random() < 0.5:
            n = int(rng.integers(0, 80))
            block = np.arange(counter, counter + n, dtype=np.float32)
            pushed = ring.push(block)
            assert pushed == min(n, 100 - len(reference))
            reference += block[:pushed].tolist()
            counter += n
        else:
            out = np.full(int(rng.integers(0, 80)), -1.0, np.float32)
            popped = ring.pop(out)
            assert out[:popped].tolist() == reference[:popped]
            assert (out[popped:] == -1).all()
            del reference[:popped]
        assert ring.available() == len(reference)


def drive(player: LivePlayer, blocks: int, channels: int = 2) -> np.ndarray:
    out = np.empty((blocks, player.blocksize, channels), np.float32)
    for b in range(blocks):
        if player.ring is not None:  # what the producer thread does, in line
            while player.ring.free() >= player.blocksize:
                block = np.empty(player.blocksize, np.float32)
                player.engine.process(player.blocksize, out=block)
                player.ring.push(block)
        player.callback(out[b], player.blocksize, None, OK)
    return out.reshape(-1, channels)


def test_both_compute_modes_play_the_engines_samples(demo: LoadedModel) -> None:
    reference = Engine(demo, sample_rate=48000)
    reference.apply(NoteOn(60.0, 1.0))
    expected = reference.process(128 * 100)
    for mode in ("callback", "thread"):
        engine = Engine(demo, sample_rate=48000)
        engine.apply(NoteOn(60.0, 1.0))
        player = LivePlayer(engine, blocksize=128, compute=mode)
        played = drive(player, 100)
        assert np.array_equal(played[:, 0], played[:, 1])
        assert np.array_equal(played[:, 0], expected), mode
        assert player.errors == player.underflows == 0 and player.played == 128 * 100


def test_stop_fades_out_without_a_click(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=48000)
    engine.apply(NoteOn(57.0, 1.0))
    player = LivePlayer(engine, blocksize=256)
    before = drive(player, 40)[:, 0]
    player.request_stop()
    after = drive(player, 8)[:, 0]
    assert player.finished.is_set() and player.fade_start == 40 * 256
    assert np.abs(before[-2000:]).max() > 0.05
    assert (after[960:] == 0).all()  # 20 ms at 48 kHz, then silence
    steps = np.abs(np.diff(np.concatenate([before[-1:], after[:960]])))
    assert steps.max() < 4 * np.abs(np.diff(before[-960:])).max()  # no jump bigger than the tone's


def test_a_failing_block_is_silence_and_counted(demo: LoadedModel) -> None:
    player = LivePlayer(Engine(demo, sample_rate=48000), blocksize=64, compute="callback")
    out = np.ones((64, 2), np.float32)
    player.callback(out, 64, None, SimpleNamespace())  # a status without the flag: error
    assert player.errors == 1 and (out == 0).all()
    player.callback(out, 64, None, SimpleNamespace(output_underflow=True))
    assert player.underflows == 1 and player.errors == 1
    big = np.ones((10_000, 2), np.float32)
    player.callback(big, 10_000, None, OK)  # more than PortAudio was asked for
    assert player.errors == 2 and (big == 0).all()


def test_underflows_say_whether_the_host_or_the_engine_was_late(demo: LoadedModel) -> None:
    player = LivePlayer(Engine(demo, sample_rate=48000), blocksize=128, compute="thread")
    assert player.ring is not None
    out = np.ones((128, 2), np.float32)
    player.callback(out, 128, None, SimpleNamespace(output_underflow=True))  # ring empty too
    player.callback(out, 128, None, OK)  # ring empty: the producer fell behind
    block = np.zeros(128, np.float32)
    player.engine.process(128, out=block)
    player.ring.push(block)
    player.callback(out, 128, None, SimpleNamespace(output_underflow=True))  # host only
    assert (player.underflows, player.ring_underflows) == (4, 2)
    assert list(player.underflow_at[:4]) == [0, 0, 128, 256]
    player.finished.set()  # faded out, the stream being stopped: a host xrun now is not ours
    player.callback(out, 128, None, SimpleNamespace(output_underflow=True))
    assert player.underflows == 4 and (out == 0).all()


def test_midi_messages_map_to_engine_controls() -> None:
    cases = [
        (mido.Message("note_on", note=60, velocity=127), ("note_on", (60.0, 1.0))),
        (mido.Message("note_on", note=60, velocity=0), ("note_off", (60.0,))),
        (mido.Message("note_off", note=62, velocity=40), ("note_off", (62.0,))),
        (mido.Message("pitchwheel", pitch=-8192), ("bend_semitones", (-2.0,))),
        (mido.Message("control_change", control=11, value=127), ("loudness_db", (0.0,))),
        (mido.Message("control_change", control=7, value=0), ("loudness_db", (-80.0,))),
        (mido.Message("control_change", control=1, value=127), ("mask_blend", (1.0,))),
        (mido.Message("control_change", control=74, value=127), ("nca_rate", (100.0,))),
        (mido.Message("control_change", control=123, value=0), ("note_off", ())),
        (mido.Message("control_change", control=20, value=5), None),
        (mido.Message("program_change", program=3), None),
    ]
    for message, expected in cases:
        command = midi_control(message)
        got = None if command is None else (command.action, command.args())
        assert got == expected, message


def test_a_missing_midi_port_is_named(demo: LoadedModel) -> None:
    with pytest.raises(ParameterError, match="MIDI"):
        MidiInput(Engine(demo, sample_rate=48000), "no such keyboard")


def test_osc_docs_are_generated_from_the_tables() -> None:
    assert doc_path().read_text() == render_osc_doc()
    assert len(STATUS_FIELDS) == 12


def test_controller_layout_is_generated_and_speaks_the_namespace(demo: LoadedModel) -> None:
    """Every widget's message, as Open Stage Control sends it, is accepted by the namespace."""
    assert layout_path().read_text() == render_layout()
    widgets = json.loads(layout_path().read_text())["content"]["widgets"]
    clamp, presets = Clamp(), list(demo.meta.presets)
    covered = set()
    for w in widgets:
        sent: list[tuple[str, tuple]]
        if w["type"] == "keyboard":
            sent = [(w["address"], (60.0, 0.8)), (w["address"], (60.0, float(w["off"])))]
        elif w["type"] == "button":
            sent = [(w["address"], (w["on"],))]
        elif w["type"] == "switch":
            sent = [(w["address"], (value,)) for value in w["values"].values()]
        else:
            low, high = (float(w["range"][k]) for k in ("min", "max"))  # typeTags "f"
            sent = [(w["address"], (low,)), (w["address"], (high,))]
        for address, args in sent:
            assert translate(address, args, presets, clamp) is not None, (address, args)
        covered.add(w["address"])
    assert clamp.count == 0  # the ranges are the parameters' own
    # note off comes from the keyboard's key release; a morph needs the model's preset names
    assert set(ROUTES) - covered == {"/grow/note/off", "/grow/timbre/morph"}


def test_status_line_and_reply_report_the_engine(demo: LoadedModel) -> None:
    from realtime.live_cli import status_line, status_values

    engine = Engine(demo, sample_rate=48000)
    engine.apply(NoteOn(69.0, 1.0))
    engine.apply(SetParam("nca_rate", 25.0))
    player = LivePlayer(engine, blocksize=128, compute="callback")
    drive(player, 400)  # 1.07 s
    server = SimpleNamespace(accepted=12, rejected_total=3)
    line = status_line(engine, player, server, 42.0)
    assert "underflows 0" in line and "440.0 Hz" in line and "@ 25.0/s" in line
    assert "OSC    42 msg/s, 3 rejected" in line
    assert "note on" in line and "timbre flute" in line and "growth free, blend 1.00" in line
    assert "outside the trained range" not in line
    values = status_values(engine, player, server)
    assert len(values) == len(STATUS_FIELDS)
    assert values[11] == 1  # 440 Hz lies in the demo flute's trained range
    engine.apply(SetParam("pitch_hz", 110.0))  # two octaves below anything it learned
    drive(player, 40)
    assert "outside the trained range" in status_line(engine, player, server, 0.0)
    assert status_values(engine, player, server)[11] == 0
    engine.apply(NoteOff())
    drive(player, 200)  # the release ends: silent, and a pitch nobody plays is no warning
    silent = status_line(engine, player, server, 0.0)
    assert "silent" in silent and "outside the trained range" not in silent
    assert values[0] == pytest.approx(400 * 128 / 48000) and values[1] == pytest.approx(440.0)
    assert values[3] == pytest.approx(25 * 400 * 128 / 48000, abs=2)  # NCA steps at the rate
    assert values[8:11] == [12, 3, 1]


def test_a_failing_producer_block_is_silence_and_counted(demo: LoadedModel) -> None:
    """An engine error in the producer thread (injected) costs one silent block, not the stream."""
    engine = Engine(demo, sample_rate=48000)
    engine.apply(NoteOn(60.0, 1.0))
    player = LivePlayer(engine, blocksize=128, compute="thread", prefill=3)
    real, calls = engine.process, {"n": 0}

    def flaky(n: int, out: np.ndarray | None = None) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected")
        return real(n, out=out)

    setattr(engine, "process", flaky)  # noqa: B010
    player._producing = True
    producer = threading.Thread(target=player._produce)
    producer.start()
    while player.ring is not None and player.ring.available() < 3 * 128:
        time.sleep(0.001)
    player._producing = False
    producer.join()
    out = np.empty(3 * 128, np.float32)
    assert player.ring is not None and player.ring.pop(out) == 3 * 128
    assert player.errors == 1
    assert np.abs(out[:128]).max() > 0 and (out[128:256] == 0).all() and np.abs(out[256:]).max() > 0
