"""The block engine: block-size invariance, parity with the training synth, pitch accuracy at
every output rate, no clicks, and a phase accumulator that stays in tune for an hour."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from core.errors import ParameterError
from realtime.commands import Command, NcaPerturb, NcaReset, NcaStep, NoteOff, NoteOn, SetParam
from realtime.engine import Engine
from realtime.model import LoadedModel
from realtime.render import grow_events, render
from realtime.reverb import PartitionedReverb
from realtime.score import Event
from realtime.synth import TWO_PI, frame_noise, harmonic_segment
from trainer.dsp import filtered_noise, harmonic_synth


def busy_score() -> list[Event]:
    """Notes, a bend, loudness moves, NCA steps, a reset and a perturbation within 1.2 s."""
    return [
        Event(0.0, 2, NoteOn(64.0, 0.9)),
        Event(0.13, 1, SetParam("bend_semitones", 1.5)),
        Event(0.2, 1, SetParam("loudness_db", -30.0)),
        Event(0.31, 1, NcaStep(5)),
        Event(0.4, 0, NoteOff()),
        Event(0.45, 2, NoteOn(71.25, 0.6)),
        Event(0.6, 1, NcaReset()),
        Event(0.7, 1, SetParam("mask_blend", 0.4)),
        Event(0.8, 1, NcaPerturb(0.5)),
        Event(1.0, 0, NoteOff()),
    ]


@pytest.mark.parametrize("blocksize", [1, 32, 64, 65, 128, 256, 1024, 8193, "random"])
def test_output_does_not_depend_on_the_block_size(demo: LoadedModel, blocksize: int | str) -> None:
    reference = render(Engine(demo, sample_rate=48000), busy_score(), 1.2, blocksize=512)
    engine = Engine(demo, sample_rate=48000)
    if blocksize == "random":
        rng = np.random.default_rng(0)
        parts, done = [], 0
        events = sorted(busy_score(), key=Event.sort_key)
        total = len(reference)
        while done < total:  # random block sizes, events applied at their exact samples
            while events and round(events[0].time_s * 48000) <= done:
                event = events.pop(0)
                engine.apply(event.command)
            limit = round(events[0].time_s * 48000) if events else total
            n = max(1, min(int(rng.integers(1, 2000)), limit - done, total - done))
            parts.append(engine.process(n))
            done += n
        out = np.concatenate(parts)
    else:
        out = render(engine, busy_score(), 1.2, blocksize=int(blocksize))
    assert np.abs(reference).max() > 0.01
    assert np.abs(out - reference).max() <= 1e-6


def test_engine_matches_the_training_synth(demo: LoadedModel) -> None:
    """At the training rate, the numpy engine and trainer/dsp.py agree on the same controls."""
    meta = demo.meta
    engine = Engine(demo, sample_rate=meta.sample_rate, seed=5, trace=True)
    audio = render(engine, busy_score(), 1.2, blocksize=333)
    trace = engine.trace
    assert trace is not None
    n_frames = len(trace) - 1
    hop = meta.hop
    f0 = torch.tensor([[c.f0_hz for c in trace[:n_frames]]], dtype=torch.float32)
    amps = torch.tensor(np.stack([c.harmonic_amps for c in trace[:n_frames]]))[None]
    mags = torch.tensor(np.stack([c.noise_mags for c in trace[:n_frames]]), dtype=torch.float32)
    white = torch.from_numpy(np.concatenate([frame_noise(5, t, hop) for t in range(n_frames)]))
    harmonic, _ = harmonic_synth(f0, amps, sample_rate=meta.sample_rate, hop=hop)
    noise = filtered_noise(mags[None], white[None], hop=hop)
    reference = (harmonic + noise)[0].numpy()
    n = (n_frames - 2) * hop  # the last frames interpolate towards frames not traced
    error = audio[:n] - reference[:n]
    assert 20 * np.log10(np.abs(error).max() / np.abs(reference[:n]).max()) < -60


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_a_note_at_1khz_sounds_at_1khz(demo: LoadedModel, rate: int) -> None:
    engine = Engine(demo, sample_rate=rate)
    engine.params.set("noise_db", -60.0)
    engine.params.set("mask_blend", 0.0)
    note = 69 + 12 * math.log2(1000 / 440)
    audio = render(engine, [Event(0.0, 2, NoteOn(note, 1.0))], 1.5, blocksize=256)
    steady = audio[rate // 2 :].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady)), n=8 * len(steady)))
    peak_hz = np.argmax(spectrum) * rate / (8 * len(steady))
    assert peak_hz == pytest.approx(1000.0, abs=0.5)


def test_no_click_at_block_boundaries(demo: LoadedModel) -> None:
    """Tiny blocks: the sample-to-sample step never exceeds what the tone itself does."""
    engine = Engine(demo, sample_rate=48000)
    engine.params.set("noise_db", -60.0)
    audio = render(engine, [Event(0.0, 2, NoteOn(57.0, 1.0))], 1.0, blocksize=37)
    steady = audio[12000:]
    jumps = np.abs(np.diff(steady))
    boundaries = np.arange(37 - 12000 % 37, len(steady) - 1, 37)
    assert jumps[boundaries].max() <= 1.05 * np.percentile(jumps, 99.9)


def test_an_hour_of_playing_stays_in_tune() -> None:
    """The float64 phase, wrapped every segment, keeps 440 Hz within 0.01 cent for an hour."""
    rate, hop, f0 = 48000, 480, 440.0
    segments = 3600 * rate // hop
    phase = 0.0
    step = np.full(hop, f0 * TWO_PI / rate)
    for _ in range(segments):  # the engine's phase update, without the sines
        phase = float(np.mod(phase + np.cumsum(step)[-1], TWO_PI))
    exact = float(Fraction(f0) * 3600 % 1) * TWO_PI  # cycles after an hour, fractional part
    drift = abs((phase - exact + math.pi) % TWO_PI - math.pi)  # rad
    cents = 1200 * math.log2(1 + drift / (TWO_PI * f0 * 3600))
    assert cents < 0.01
    audio, _ = harmonic_segment(f0, f0, np.ones(1), np.ones(1), hop, sample_rate=rate, phase=phase)
    assert np.isfinite(audio).all()


def test_grow_render_starts_at_the_fundamental_and_grows(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=48000)
    events, seconds = grow_events("nca", n_harmonics=64, stages=6, note=69.0)
    audio = render(engine, events, seconds, blocksize=512)

    def harmonics_present(start_s: float) -> int:
        seg = audio[int((start_s + 0.1) * 48000) : int((start_s + 0.3) * 48000)].astype(float)
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
        freqs = np.fft.rfftfreq(len(seg), 1 / 48000)
        level = [spec[np.abs(freqs - 440 * k) < 20].max() for k in range(1, 9)]
        return sum(lv > 0.01 * level[0] for lv in level)

    first, last = harmonics_present(0.0), harmonics_present(5 * 0.7)
    assert first == 1
    assert last >= 5


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize(
    "control",
    [
        SetParam("pitch_hz", 400.0),
        SetParam("gain_db", -6.0),
        NoteOff(),
        NoteOn(67.0, 0.5),
        SetParam("loudness_db", -30.0),
        SetParam("mask_blend", 0.5),
    ],
    ids=repr,
)
def test_measured_latency_equals_the_reported_one(
    demo: LoadedModel, rate: int, control: Command
) -> None:
    """A change applied one sample after a control frame was read (the worst case for a control
    read per frame) is heard `latency_samples_of(control)` later: notes, pitch and gain within
    a few samples of the block (the change glides from where the sound is), the rest when the
    next frame starts to interpolate towards it."""
    # Both pitches inside the demo's trained range (293..592 Hz), so that the decoder's timbre
    # moves with the pitch at once (outside it, it holds the timbre of the range's edge).
    start = [Event(0.0, 2, NoteOn(64.0, 1.0))]
    plain = render(Engine(demo, sample_rate=rate), start, 1.0, blocksize=64)
    engine = Engine(demo, sample_rate=rate)
    change_at = engine.position_of(50) + 1
    moved = render(engine, [*start, Event(change_at / rate, 1, control)], 1.0, blocksize=64)
    first_changed = int(np.flatnonzero(moved != plain)[0])
    reported = engine.latency_samples_of(control)
    if reported == 0:
        # (a pitch glides from the pitch it has: its phase, and so the float32 output, parts a
        # few samples on; the others change the amplitude from the next sample)
        assert 0 <= first_changed - change_at <= 8
    else:
        assert reported == engine.latency_samples
        assert first_changed - change_at == reported


def with_reverb(demo: LoadedModel, ir: np.ndarray) -> LoadedModel:
    meta = dataclasses.replace(demo.meta, reverb_ir=[float(x) for x in ir])
    return LoadedModel(session=demo.session, meta=meta, path=demo.path)


def test_partitioned_reverb_equals_direct_convolution() -> None:
    rng = np.random.default_rng(1)
    ir = rng.normal(size=3000) * np.exp(-np.arange(3000) / 600)
    ir[0] = 0.0
    dry = rng.normal(size=480 * 20)
    reverb = PartitionedReverb(ir, partition=480)
    out = np.concatenate([reverb.process(dry[i : i + 480]) for i in range(0, dry.size, 480)])
    expected = dry + np.convolve(dry, ir)[: dry.size]
    assert np.abs(out - expected).max() < 1e-9 * np.abs(expected).max()


def test_engine_reverb_is_the_training_synths(demo: LoadedModel) -> None:
    """At the training rate the wet engine = dry engine + dry * h; block size does not matter;
    at 48 kHz the resampled IR keeps the wet level."""
    rng = np.random.default_rng(2)
    ir = 0.05 * rng.normal(size=4800) * np.exp(-np.arange(4800) / 1500)
    ir[0] = 0.0
    rate = demo.meta.sample_rate
    dry = render(Engine(demo, sample_rate=rate), busy_score(), 1.2)
    wet_model = with_reverb(demo, ir)
    wet = render(Engine(wet_model, sample_rate=rate), busy_score(), 1.2, blocksize=77)
    expected = dry + np.convolve(dry, ir)[: dry.size]
    assert np.abs(wet - dry).max() > 0.01  # the reverb is heard
    assert np.abs(wet - expected).max() < 1e-5
    dry48 = render(Engine(demo, sample_rate=48000), busy_score(), 1.2)
    wet48 = render(Engine(wet_model, sample_rate=48000), busy_score(), 1.2)
    ratio_24 = np.sum((wet - dry) ** 2) / np.sum(dry**2)
    ratio_48 = np.sum((wet48 - dry48) ** 2) / np.sum(dry48**2)
    assert ratio_48 == pytest.approx(ratio_24, rel=0.1)
    with pytest.raises(ParameterError, match="22050 Hz is not"):
        Engine(with_reverb(demo, ir), sample_rate=22050)
