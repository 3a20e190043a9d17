"""Polyphony: voices that sum, an allocator that steals without a click, growth per voice."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import ParameterError
from realtime.commands import NcaStep, NoteOff, NoteOn, SetParam
from realtime.engine import Engine
from realtime.model import LoadedModel, load_model
from realtime.render import render
from realtime.score import Event, order_of
from realtime.synth import NoiseFilter, frame_noise
from tests.export_fixtures import as_version_2

RATE = 48000


def at(time_s: float, command: Any) -> Event:
    return Event(time_s, order_of(command), command)


def peak_db(audio: np.ndarray, hz: float) -> float:
    """Level of the strongest spectral line within 3 % of hz, dB."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n=4 * len(audio)))
    freqs = np.fft.rfftfreq(4 * len(audio), 1 / RATE)
    band = (freqs > hz * 0.97) & (freqs < hz * 1.03)
    return float(20 * np.log10(spec[band].max() + 1e-12))


def test_two_voices_are_the_sum_of_two_single_voices(demo: LoadedModel) -> None:
    """Voice slots are independent: a chord is what each of its notes plays alone (slot 1 alone:
    slot 0 held at velocity 0, so the same note lands in the same slot with the same keys)."""
    a, b = [at(0.0, NoteOn(57.0, 0.9)), at(0.6, NoteOff(57.0))], [at(0.9, NoteOff(64.0))]
    chord = render(Engine(demo, seed=5, voices=2), [*a, at(0.0, NoteOn(64.0, 0.8)), *b], 1.4)
    first = render(Engine(demo, seed=5, voices=1), a, 1.4)
    silent_first = [at(0.0, NoteOn(57.0, 0.0)), at(0.6, NoteOff(57.0))]
    second = render(
        Engine(demo, seed=5, voices=2), [*silent_first, at(0.0, NoteOn(64.0, 0.8)), *b], 1.4
    )
    assert min(np.abs(first).max(), np.abs(second).max()) > 0.05
    assert np.abs(chord - (first + second)).max() < 1e-5
    # and the two are different sounds (not one voice counted twice)
    assert np.abs(first - second).max() > 0.05


def test_one_note_on_many_voices_is_the_one_voice_engine(demo: LoadedModel) -> None:
    events = [at(0.0, NoteOn(60.0, 1.0)), at(0.5, SetParam("bend_semitones", 1.0))]
    events.append(at(0.8, NoteOff(60.0)))
    mono = render(Engine(demo, seed=2, voices=1), events, 1.3)
    poly = render(Engine(demo, seed=2, voices=8), events, 1.3)
    assert np.abs(mono).max() > 0.05 and np.array_equal(mono, poly)


def test_polyphony_is_block_size_invariant(demo: LoadedModel) -> None:
    events = [at(0.0, NoteOn(57.0, 1.0)), at(0.21, NoteOn(64.0, 0.7)), at(0.33, NoteOn(69.0))]
    events += [at(0.5, NoteOff(64.0)), at(0.61, NoteOn(72.0, 0.5)), at(0.9, NoteOff())]
    whole = render(Engine(demo, voices=3), events, 1.4, blocksize=4096)
    small = render(Engine(demo, voices=3), events, 1.4, blocksize=61)
    assert np.abs(whole).max() > 0.05 and np.array_equal(whole, small)


def test_the_allocator_steals_the_oldest_released_then_the_oldest(demo: LoadedModel) -> None:
    engine = Engine(demo, voices=2)
    hop = engine.hop_max()

    def play(*commands: Any, frames: int = 3) -> list[tuple[float, str]]:
        for command in commands:
            engine.apply(command)
        engine.process(frames * hop)
        return [(v.note, "held" if v.held else v.envelope.stage) for v in engine.voices]

    assert play(NoteOn(60.0), NoteOn(62.0)) == [(60.0, "held"), (62.0, "held")]
    # the same note again: the voice that plays it, retriggered (no steal)
    assert play(NoteOn(62.0)) == [(60.0, "held"), (62.0, "held")]
    assert play(NoteOff(62.0)) == [(60.0, "held"), (62.0, "release")]
    # a third note: the released voice is taken although the other is older
    assert play(NoteOn(64.0)) == [(60.0, "held"), (64.0, "held")]
    # none released: the oldest (60) is taken
    assert play(NoteOn(65.0)) == [(65.0, "held"), (64.0, "held")]
    assert play(NoteOff(64.0)) == [(65.0, "held"), (64.0, "release")]
    assert play(NoteOff()) == [(65.0, "release"), (64.0, "release")]


@pytest.mark.parametrize("steal_s", [0.6, 0.6037, 0.6071])  # on a frame, inside one
def test_a_stolen_voice_fades_out_without_a_click(demo: LoadedModel, steal_s: float) -> None:
    """Two voices hold A3 and E4; C4 steals A3: the A3 line ends within a control frame and C4
    begins at the next, and the waveform bends no more sharply than the tones' own (second
    difference: a cut at any phase shows there as a spike of the cut's size; growth off: steady
    timbres)."""
    engine = Engine(demo, voices=2, growth="off")
    frame_s = 1.0 / engine.frame_rate
    events = [at(0.0, NoteOn(57.0)), at(0.3, NoteOn(64.0)), at(steal_s, NoteOn(60.0))]
    audio = render(engine, events, 1.1).astype(np.float64)

    def span(start: float, end: float) -> np.ndarray:
        return audio[int(start * RATE) : int(end * RATE)]

    def bend(start: float, end: float) -> float:
        return float(np.abs(np.diff(span(start, end), n=2)).max())

    steady = max(bend(0.4, steal_s - frame_s), bend(steal_s + 3 * frame_s, 1.1))
    assert bend(steal_s - frame_s, steal_s + 3 * frame_s) <= 1.2 * steady
    before, after = span(0.45, 0.6), span(0.6 + 3 * frame_s, 0.75 + 3 * frame_s)
    assert peak_db(before, 220.0) - peak_db(after, 220.0) > 30.0  # A3 gone
    assert peak_db(after, 261.63) - peak_db(before, 261.63) > 30.0  # C4 sounding
    assert abs(peak_db(after, 329.63) - peak_db(before, 329.63)) < 1.0  # E4 untouched


def test_a_stolen_note_released_before_it_starts_never_sounds(demo: LoadedModel) -> None:
    engine = Engine(demo, voices=1 + 1)
    events = [at(0.0, NoteOn(57.0)), at(0.0, NoteOn(64.0)), at(0.295, NoteOn(60.0))]
    events.append(at(0.299, NoteOff(60.0)))  # the same frame: off before its voice is free
    audio = render(engine, events, 0.8).astype(np.float64)
    later = audio[int(0.45 * RATE) : int(0.8 * RATE)]
    assert peak_db(later, 261.63) < peak_db(later, 329.63) - 30.0
    assert [v.pending for v in engine.voices] == [None, None]


def test_silent_voices_cost_nothing(demo: LoadedModel) -> None:
    """Only sounding voices run the step graph, all of them in one call: one note on eight
    voices is one row a frame, two notes two rows."""

    class CountingBinding:  # a real binding that remembers its batch
        def __init__(self, binding: Any) -> None:
            self.binding, self.rows = binding, 0

        def bind_cpu_input(self, name: str, buffer: np.ndarray) -> None:
            self.rows = buffer.shape[0] if name == "f0_hz" else self.rows
            self.binding.bind_cpu_input(name, buffer)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.binding, name)

    class CountingSession:
        def __init__(self, session: Any) -> None:
            self.session, self.rows = session, list[int]()

        def io_binding(self) -> CountingBinding:
            return CountingBinding(self.session.io_binding())

        def run_with_iobinding(self, binding: CountingBinding) -> None:
            self.rows.append(binding.rows)
            self.session.run_with_iobinding(binding.binding)

    counting = CountingSession(demo.session)
    engine = Engine(dataclasses.replace(demo, session=counting), voices=8)
    engine.start()  # frame 0 runs every voice once (their first, silent frame)
    assert counting.rows == [8]
    engine.apply(NoteOn(60.0))
    engine.process(100 * engine.hop_max())
    assert counting.rows == [8] + [1] * 100
    engine.apply(NoteOn(64.0))
    engine.process(10 * engine.hop_max())
    assert counting.rows[101:] == [2] * 10


def test_each_voice_grows_from_its_own_seed(demo: LoadedModel) -> None:
    engine = Engine(demo, voices=2, growth="per-note")
    engine.params.set("nca_rate", 20.0)
    render(engine, [at(0.0, NoteOn(57.0)), at(1.0, NoteOn(64.0))], 1.1)
    first, second = engine.voices
    assert 20 <= first.nca_step_count <= 23  # 1.1 s at 20 steps/s
    assert second.nca_step_count <= 3  # began at 1.0 s, from the seed
    assert not np.array_equal(first.nca_state, second.nca_state)


def test_asked_for_nca_steps_go_to_the_voices_that_sound(demo: LoadedModel) -> None:
    engine = Engine(demo, voices=3)
    engine.params.set("nca_rate", 0.0)  # only the steps asked for
    render(engine, [at(0.0, NcaStep(2))], 0.05)
    # in silence: every voice, at once (whichever takes the next note has grown)
    assert [v.nca_step_count for v in engine.voices] == [2, 2, 2]
    render(engine, [at(0.0, NoteOn(60.0)), at(0.0, NoteOn(64.0))], 0.1)
    engine.apply(NcaStep(5))
    engine.process(20 * engine.hop_max())
    assert [v.nca_step_count for v in engine.voices] == [7, 7, 2]


def test_a_stealing_note_keeps_what_follows_it_in_the_same_frame(demo: LoadedModel) -> None:
    """All voices busy: a note that steals, the same note again, then a pitch, in one frame:
    the note starts after the fade, on one voice, at the pitch sent."""
    engine = Engine(demo, voices=2)
    hop = engine.hop_max()
    for note in (57.0, 60.0):
        engine.apply(NoteOn(note))
    engine.process(10 * hop)
    engine.apply(NoteOn(64.0))
    engine.apply(NoteOn(64.0))
    engine.apply(SetParam("pitch_hz", 400.0))
    engine.process(3 * hop)
    playing = [(v.note, v.pitch_target_hz) for v in engine.voices]
    assert playing == [(64.0, 400.0), (60.0, pytest.approx(261.63, abs=0.01))]
    engine.apply(NoteOff(64.0))
    engine.process(hop)
    assert [v.held for v in engine.voices] == [False, True]


def test_voice_slots_draw_their_own_noise() -> None:
    assert not np.array_equal(frame_noise(3, 10, 480, 1), frame_noise(3, 10, 480, 0))
    assert np.array_equal(frame_noise(3, 10, 480), frame_noise(3, 10, 480, 0))


@pytest.mark.parametrize("voices", [0, 65, 2.0, True])
def test_a_bad_voice_count_is_named(demo: LoadedModel, voices: Any) -> None:
    with pytest.raises(ParameterError, match=r"voices=.* must be a whole number in 1\.\.64"):
        Engine(demo, voices=voices)


@pytest.mark.parametrize("growth", ["free", "off"])
def test_a_version_2_artifact_plays_what_its_version_3_plays(
    exported: tuple[Any, Path], tmp_path: Path, growth: str
) -> None:
    """Batch-1 graphs (one call per voice, a second for the unmasked frame) and the batched graph
    (one call for every voice, both mask states) give the same chord, mask half blended."""
    v3 = load_model(exported[1])
    v2 = load_model(as_version_2(exported[1], tmp_path / "v2.onnx"))
    assert (v2.meta.batched, v3.meta.batched) == (False, True)
    events = [
        at(0.0, NoteOn(57.0)),
        at(0.1, NoteOn(64.0, 0.7)),
        at(0.2, SetParam("mask_blend", 0.5)),
    ]
    events += [at(0.4, NoteOff(57.0)), at(0.5, NoteOn(69.0))]
    played = [render(Engine(m, voices=3, growth=growth), events, 0.9) for m in (v2, v3)]
    assert np.abs(played[1]).max() > 0.01
    assert np.abs(played[0] - played[1]).max() <= 1e-5 * np.abs(played[1]).max()


def test_filtered_noise_is_overlap_added_in_place() -> None:
    """add_filtered = each frame's noise convolved with its own designed FIR, added at its offset
    (the part before the buffer's start dropped), frame lengths varying as at 44.1 kHz."""
    rng = np.random.default_rng(2)
    for rate, lengths in ((48000, (480, 480)), (22050, (221, 220, 221)), (96000, (960, 17))):
        design = NoiseFilter(64, out_rate=rate, train_rate=24000, max_samples=max(lengths))
        size = 3 * max(lengths) + 4 * design.delay
        acc, expected = np.zeros(size), np.zeros(size)
        for offset, n in zip((-design.delay, 5, 2 * max(lengths)), lengths, strict=False):
            white = (rng.random(n) * 2 - 1).astype(np.float32)
            mags = rng.random(64) * (rng.random(64) > 0.3)
            design.white(n)[:] = white
            design.add_filtered(n, mags, acc, offset)
            full = np.convolve(white.astype(np.float64), design.design(mags))
            start = max(0, -offset)
            expected[offset + start : offset + full.shape[0]] += full[start:]
        assert np.abs(acc - expected).max() <= 1e-12 * np.abs(expected).max()


def test_the_noise_filter_matrix_is_the_design() -> None:
    rng = np.random.default_rng(1)
    for rate in (24000, 44100, 48000, 96000):
        design = NoiseFilter(64, out_rate=rate, train_rate=24000)
        for mags in (rng.random(64), np.zeros(64), (rng.random(64) > 0.7) * 3.0):
            assert np.allclose(design(mags), design.design(mags), rtol=0, atol=1e-12)


def test_a_shared_mask_grows_once_for_every_voice(demo: LoadedModel) -> None:
    """growth "shared": one NCA, its clock running while any voice sounds; a later note plays
    through the mask grown so far (not from the seed). With one voice it is "free"."""
    events = [at(0.0, NoteOn(57.0)), at(0.6, NoteOn(64.0)), at(0.9, NoteOff(57.0))]
    engine = Engine(demo, voices=4, growth="shared")
    engine.params.set("nca_rate", 20.0)
    render(engine, events, 1.0)  # the first note releasing: both voices still computed
    first, second = engine.voices[:2]
    assert 19 <= engine.nca_step_count <= 21  # 1 s at 20 steps/s, one clock
    assert first.nca_step_count == second.nca_step_count == 0  # the voices' own clocks rest
    assert np.array_equal(first.mask, second.mask)
    assert second.mask[0, 1:].max() > 0.1  # the second note began with a grown mask
    one = [at(0.0, NoteOn(57.0)), at(0.5, NoteOn(64.0)), at(0.9, NoteOff())]
    shared, free = (
        render(Engine(demo, voices=1, growth=mode), one, 1.4) for mode in ("shared", "free")
    )
    assert np.abs(free).max() > 0.05 and np.array_equal(shared, free)
