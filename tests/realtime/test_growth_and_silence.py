"""Growth modes (off, free, per-note) and the silence gate: what a performer hears between and
at the start of notes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.errors import ParameterError
from realtime.commands import NoteOff, NoteOn, SetParam
from realtime.engine import Engine
from realtime.gate import HYSTERESIS_DB, LoudnessGate
from realtime.model import LoadedModel
from realtime.render import render
from realtime.score import Event

RATE = 48000


def note(at: float, number: float = 64.0) -> Event:
    return Event(at, 2, NoteOn(number, 1.0))


def off(at: float) -> Event:
    return Event(at, 0, NoteOff())


def dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-12)))


def test_growth_off_plays_the_full_learned_timbre(demo: LoadedModel) -> None:
    """Off = the unmasked timbre, from the first note on: the same amplitudes as the NCA path
    with the mask fully blended out."""
    full = Engine(demo, sample_rate=RATE, growth="off", trace=True)
    render(full, [note(0.0)], 0.5)
    blended_out = Engine(demo, sample_rate=RATE, growth="free", trace=True)
    blended_out.params.set("mask_blend", 0.0)
    blended_out.smoother.jump("mask_blend")
    render(blended_out, [note(0.0)], 0.5)
    assert full.trace is not None and blended_out.trace is not None
    a = np.stack([c.harmonic_amps for c in full.trace])
    b = np.stack([c.harmonic_amps for c in blended_out.trace])
    assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max()
    assert (a[10] > 0).sum() > 10  # many harmonics sound, not the seed's one
    assert full.voice.nca_step_count == 0


def test_free_growth_clock_runs_only_while_a_note_sounds(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=RATE, growth="free")
    engine.params.set("nca_rate", 10.0)
    render(engine, [], 1.0)  # a second of silence before the first note
    assert engine.voice.nca_step_count == 0
    render(engine, [note(0.0), off(1.0)], 2.5)  # 1 s held, 0.25 s release, then silence
    assert 10 <= engine.voice.nca_step_count <= 14


def test_per_note_growth_starts_every_note_after_silence_at_the_seed(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=RATE, growth="per-note", trace=True)
    engine.params.set("nca_rate", 20.0)
    render(engine, [note(0.0), off(1.0), note(2.0)], 2.05)
    assert engine.voice.nca_step_count <= 2  # the second note restarted the growth
    assert engine.trace is not None
    second = engine.trace[201]  # the first control frame of the second note (read at 2.0 s)
    assert np.count_nonzero(second.harmonic_amps) == 1  # the fundamental alone


def test_growth_mode_is_checked(demo: LoadedModel) -> None:
    with pytest.raises(ParameterError, match="growth 'sometimes' must be one of off, free"):
        Engine(demo, sample_rate=RATE, growth="sometimes")


def test_silent_input_gives_silence_within_120_ms(demo: LoadedModel) -> None:
    """Loudness control at the features' floor (digital silence): <= -70 dBFS within 120 ms,
    exact digital zero once the fade and the noise filter's tail are over."""
    engine = Engine(demo, sample_rate=RATE, growth="off")
    events = [note(0.0), Event(0.0, 1, SetParam("loudness_db", -25.0))]
    events.append(Event(0.5, 1, SetParam("loudness_db", -100.0)))
    audio = render(engine, events, 1.0)
    assert dbfs(audio[: RATE // 2]) > -40  # it played
    quiet = audio[int(0.62 * RATE) :]
    assert dbfs(quiet) <= -70
    assert np.count_nonzero(audio[int(0.6 * RATE) :]) == 0


def test_the_gate_does_not_chatter_at_its_threshold(demo: LoadedModel) -> None:
    """A loudness hovering around the threshold (within the hysteresis) keeps the gate open."""
    engine = Engine(demo, sample_rate=RATE, growth="off")
    engine.params.set("gate_db", -60.0)
    events = [note(0.0)]
    for i in range(40):  # -58 / -63.5 dB alternating every 25 ms
        level = -58.0 if i % 2 == 0 else -60.0 - 0.9 * HYSTERESIS_DB
        events.append(Event(0.025 * i, 1, SetParam("loudness_db", level)))
    audio = render(engine, events, 1.0)
    window = RATE // 100
    levels = [dbfs(audio[i : i + window]) for i in range(window, RATE - window, window)]
    assert min(levels) > -90  # never silenced
    gate = LoudnessGate(frame_rate=100.0)
    assert gate.step(-61.0, -60.0) == 0.0  # below the threshold, closed: stays closed
    assert gate.step(-60.0, -60.0) == 1.0  # at the threshold: opens at once
    assert gate.step(-65.9, -60.0) == 1.0  # within the hysteresis: stays open
    assert 0.0 < gate.step(-66.1, -60.0) < 1.0  # below it: fades over RELEASE_S


def test_a_released_note_ends_in_exact_silence_reverb_included(demo: LoadedModel) -> None:
    rng = np.random.default_rng(3)
    ir = 0.05 * rng.normal(size=2400) * np.exp(-np.arange(2400) / 600)  # 50 ms at 48 kHz...
    ir[0] = 0.0
    wet = dataclasses.replace(demo.meta, reverb_ir=[float(x) for x in ir])  # ...at 24 kHz: 0.1 s
    model = LoadedModel(session=demo.session, meta=wet, path=demo.path)
    engine = Engine(model, sample_rate=RATE, growth="off")
    audio = render(engine, [note(0.0), off(0.5)], 1.5)
    release_end = 0.5 + engine.voice.envelope.release_s
    tails = 0.1 + 0.03  # the IR and a few control frames
    assert dbfs(audio[: RATE // 2]) > -40
    assert np.count_nonzero(audio[int((release_end + tails) * RATE) :]) == 0
