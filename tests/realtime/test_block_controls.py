"""Notes, pitch and gain are heard from the next block, not the next control frame.

A control applied within a segment re-aims it: frame t + 1 is computed again from the state
before it was stepped, and the rest of the segment glides from where it is to the new frame.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pytest

from realtime.commands import Command, NoteOff, NoteOn, SetParam
from realtime.engine import Engine
from realtime.model import LoadedModel
from realtime.render import render
from realtime.score import Event, order_of

RATE = 48000
GLIDE_PARTS = 8  # samples after a pitch change by which the output has changed in the last bit


def at_sample(position: int, command: Any) -> Event:
    return Event(position / RATE, order_of(command), command)


def within_segment(engine: Engine, frame: int, fraction: float) -> int:
    """A sample `fraction` of the way through segment `frame` (frame to frame + 1)."""
    start, end = engine.position_of(frame), engine.position_of(frame + 1)
    return start + round(fraction * (end - start))


@pytest.mark.parametrize("voices", [1, 8])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.93])
def test_a_note_starts_at_the_next_block(demo: LoadedModel, voices: int, fraction: float) -> None:
    engine = Engine(demo, sample_rate=RATE, voices=voices)
    onset = within_segment(engine, 30, fraction)
    audio = render(engine, [at_sample(onset, NoteOn(64.0))], 0.5, blocksize=64)
    assert not audio[:onset].any()
    assert int(np.flatnonzero(audio)[0]) - onset <= 2  # (the noise's FIR starts early)
    assert np.abs(audio[onset : onset + 480]).max() > 1e-3  # sounding within 10 ms


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.97])
def test_a_note_started_within_a_segment_has_the_attack_of_one_on_a_frame(
    demo: LoadedModel, fraction: float
) -> None:
    """No click: the attack starts at the note (its envelope steps by the time left to the
    frame, not by a whole frame), so 2 ms after its start it is no louder than a note started
    on a frame is 2 ms after its start (stepping by a frame: 7 times louder at 0.97)."""
    engine = Engine(demo, sample_rate=RATE)
    on_frame = engine.position_of(30)
    onset = within_segment(engine, 30, fraction)
    played = [
        render(Engine(demo, sample_rate=RATE), [at_sample(at, NoteOn(64.0))], 0.5, blocksize=64)
        for at in (on_frame, onset)
    ]
    early = [np.abs(p[at : at + 96]).max() for p, at in zip(played, (on_frame, onset), strict=True)]
    assert early[1] <= 2.0 * early[0]
    assert np.abs(played[1][onset : onset + 2400]).max() > 0.1  # and then it sounds


def test_a_chord_within_a_segment_that_must_steal_waits_for_the_frame(demo: LoadedModel) -> None:
    """Two voices, one sounding: two notes in one block need two free voices, so the chord
    starts at the next frame (the stolen voice fades over a whole frame), not from the block."""
    engine = Engine(demo, sample_rate=RATE, voices=2)
    chord_at, frame_end = within_segment(engine, 30, 0.9), engine.position_of(31)
    held = [at_sample(0, NoteOn(57.0))]
    alone = render(Engine(demo, sample_rate=RATE, voices=2), held, 0.8, blocksize=64)
    chord = [*held, at_sample(chord_at, NoteOn(64.0)), at_sample(chord_at, NoteOn(67.0))]
    played = render(engine, chord, 0.8, blocksize=64)
    assert np.array_equal(alone[:frame_end], played[:frame_end])
    window = played[frame_end : frame_end + 480]
    assert np.abs(np.diff(window)).max() <= 1.2 * np.abs(np.diff(alone[:frame_end])).max()


@pytest.mark.parametrize("fraction", [0.2, 0.8])
def test_a_note_off_releases_from_the_next_block(demo: LoadedModel, fraction: float) -> None:
    engine = Engine(demo, sample_rate=RATE)
    release = within_segment(engine, 40, fraction)
    held = render(Engine(demo, sample_rate=RATE), [at_sample(0, NoteOn(64.0))], 0.8)
    events = [at_sample(0, NoteOn(64.0)), at_sample(release, NoteOff())]
    released = render(engine, events, 0.8, blocksize=64)
    assert np.array_equal(held[:release], released[:release])
    assert int(np.flatnonzero(held != released)[0]) - release <= 2
    steps = np.abs(np.diff(released[release - 480 : release + 480]))
    assert steps.max() <= 1.2 * np.abs(np.diff(held[release - 480 : release + 480])).max()


def test_a_gain_change_within_a_segment_lands_on_the_frame_it_would_have(demo: LoadedModel) -> None:
    """Applied anywhere in segment t, a gain change gives frame t + 1 exactly the controls (and
    the noise) it gets when applied as the segment begins: from frame t + 1 on both play the
    same, noise included (the re-aim corrects the noise already filtered for frame t + 1)."""
    engine = Engine(demo, sample_rate=RATE)
    frame = 40
    begin, end = engine.position_of(frame), engine.position_of(frame + 1)
    renders = []
    for at in (begin, within_segment(engine, frame, 0.6)):
        events = [at_sample(0, NoteOn(64.0)), at_sample(at, SetParam("gain_db", -9.0))]
        renders.append(render(Engine(demo, sample_rate=RATE), events, 0.8, blocksize=64))
    on_segment, within = renders
    assert not np.array_equal(on_segment[begin:end], within[begin:end])
    peak = np.abs(on_segment[end:]).max()
    assert peak > 0.01
    assert np.abs(on_segment[end:] - within[end:]).max() <= 1e-6 * peak


def test_a_second_gain_in_one_segment_waits_for_the_frame(demo: LoadedModel) -> None:
    """One re-aim with a graph call per segment: the second gain change of a segment is heard
    from the next frame (its latency is then that of the controls read per frame)."""
    engine = Engine(demo, sample_rate=RATE)
    first, second = within_segment(engine, 40, 0.2), within_segment(engine, 40, 0.6)
    end = engine.position_of(41)
    base = [at_sample(0, NoteOn(64.0)), at_sample(first, SetParam("gain_db", -6.0))]
    once = render(Engine(demo, sample_rate=RATE), base, 0.8, blocksize=64)
    events = [*base, at_sample(second, SetParam("gain_db", -12.0))]
    twice = render(engine, events, 0.8, blocksize=64)
    assert np.array_equal(once[:end], twice[:end])
    assert not np.array_equal(once[end : end + 480], twice[end : end + 480])


@pytest.mark.parametrize("voices", [1, 3])
def test_every_pitch_change_is_heard_from_its_block(demo: LoadedModel, voices: int) -> None:
    """Pitch and bend re-aim only the pitch (no graph call), so a stream of them acts block by
    block: each of three changes within one segment changes the sound from its own block."""
    engine = Engine(demo, sample_rate=RATE, voices=voices)
    changes = [within_segment(engine, 40, f) for f in (0.2, 0.5, 0.8)]
    notes = [at_sample(0, NoteOn(note)) for note in (64.0, 67.0, 71.0)[:voices]]
    controls = [
        SetParam("bend_semitones", 0.5),
        SetParam("pitch_hz", 380.0),
        SetParam("bend_semitones", -0.5),
    ]
    previous = render(Engine(demo, sample_rate=RATE, voices=voices), notes, 0.6, blocksize=64)
    applied = list(notes)
    for at, control in zip(changes, controls, strict=True):
        applied.append(at_sample(at, control))
        played = render(Engine(demo, sample_rate=RATE, voices=voices), applied, 0.6, blocksize=64)
        assert np.array_equal(played[:at], previous[:at])
        # a glide from the pitch it has: the phase, and so the float32 output, parts a few
        # samples on (a frame's latency would be up to 480)
        assert int(np.flatnonzero(played != previous)[0]) - at <= GLIDE_PARTS
        previous = played


def test_block_controls_are_block_size_invariant(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=RATE, voices=4)
    events = [
        at_sample(within_segment(engine, 3, 0.3), NoteOn(60.0)),
        at_sample(within_segment(engine, 9, 0.7), NoteOn(64.0, 0.6)),
        at_sample(within_segment(engine, 15, 0.5), SetParam("gain_db", -4.0)),
        at_sample(within_segment(engine, 21, 0.1), NoteOff(60.0)),
        at_sample(within_segment(engine, 27, 0.9), SetParam("bend_semitones", 1.0)),
    ]
    played = [
        render(Engine(demo, sample_rate=RATE, voices=4), events, 0.5, blocksize=size)
        for size in (37, 64, 4096)
    ]
    assert np.abs(played[0]).max() > 0.01
    assert np.array_equal(played[0], played[1]) and np.array_equal(played[0], played[2])


def test_posted_block_controls_replay_exactly(demo: LoadedModel) -> None:
    """Controls posted between 64-sample blocks, as OSC and MIDI do, are recorded at the block
    they took effect in; applying them there replays the take sample for sample."""
    live = Engine(demo, sample_rate=RATE, voices=4)
    live.recorder = deque()
    rng = np.random.default_rng(3)
    commands: list[Command] = [
        NoteOn(60.0),
        SetParam("pitch_hz", 300.0),
        NoteOn(67.0, 0.5),
        SetParam("gain_db", -3.0),
        NoteOff(60.0),
        NoteOff(),
    ]
    at_blocks = sorted(rng.choice(np.arange(5, 350), size=len(commands), replace=False))
    posts = {int(block): command for block, command in zip(at_blocks, commands, strict=True)}
    blocks = []
    for block in range(400):
        if block in posts:
            live.post(posts[block])
        blocks.append(live.process(64).copy())
    take = np.concatenate(blocks)
    assert live.recorder is not None and len(live.recorder) == len(posts)
    assert any(position % 480 for position, _ in live.recorder)  # within segments
    # in the logged order, as grow-render --osc-log replays it
    events = [Event(position / RATE, 1, command) for position, command in live.recorder]
    replayed = render(Engine(demo, sample_rate=RATE, voices=4), events, take.shape[0] / RATE)
    assert np.abs(take).max() > 0.01
    assert np.array_equal(take, replayed)
