"""Effect mode's chain (realtime.effect) on the demo model: it follows the input's pitch and
loudness, is silent where the input is, keeps to its reported latency, mixes dry and wet
without steps, and gives the same samples whatever the block size; grow-render --tracker
streaming renders exactly what the chain plays, and the player's duplex callback runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from core.errors import ParameterError
from core.features import a_weighted_loudness
from realtime.effect import EffectChain, default_pitch_range
from realtime.engine import Engine
from realtime.model import LoadedModel
from realtime.player import LivePlayer
from realtime.render import render_through
from realtime.tracker import StreamingTracker
from tests.conftest import harmonic_tone

RATE = 48000
BIN = Path(sys.executable).parent


def chain_for(demo: LoadedModel, **params: float) -> EffectChain:
    engine = Engine(demo, sample_rate=RATE, voices=1, growth="off")
    for name, value in params.items():
        engine.params.set(name, value)
    low, high = default_pitch_range(engine, params.get("pitch_shift", 0.0))
    return EffectChain(engine, StreamingTracker(RATE, f0_min_hz=low, f0_max_hz=high))


def run(chain: EffectChain, audio: np.ndarray, block: int) -> np.ndarray:
    out = np.zeros(audio.shape[0], np.float32)
    for start in range(0, audio.shape[0], block):
        chain.process(audio[start : start + block], out=out[start : start + block])
    return out


def phrase() -> np.ndarray:
    """0.3 s of silence, 1 s of a 392 Hz tone with vibrato, 0.4 s of silence, 0.8 s at 330 Hz."""
    silence = np.zeros(int(0.3 * RATE), np.float32)
    a = 0.3 * harmonic_tone(392.0, 1.0, sample_rate=RATE, vibrato_cents=30)
    b = 0.3 * harmonic_tone(330.0, 0.8, sample_rate=RATE)
    return np.r_[silence, a, np.zeros(int(0.4 * RATE), np.float32), b, silence]


def yin_hz(audio: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.yin(audio, fmin=100, fmax=2000, sr=RATE, frame_length=2048, hop_length=480)


def test_the_output_follows_the_input_and_is_silent_where_it_is(demo: LoadedModel) -> None:
    audio = phrase()
    chain = chain_for(demo)
    out = run(chain, audio, 128)
    lag = round(chain.latency_s * RATE)
    held = slice(int(0.5 * RATE), int(1.2 * RATE))  # inside the first tone
    f_in = yin_hz(audio[held])
    f_out = yin_hz(out[held.start + lag : held.stop + lag])
    assert np.median(1200 * np.abs(np.log2(f_out / f_in))) < 10.0
    # Exact silence before the first onset and once the gate has closed in the gap.
    assert not np.any(out[: int(0.3 * RATE)])
    gap_end = int(1.7 * RATE)
    assert not np.any(out[gap_end - int(0.2 * RATE) : gap_end])
    second = out[int(1.8 * RATE) + lag : int(2.4 * RATE)]
    assert np.median(1200 * np.abs(np.log2(yin_hz(second) / 330.0))) < 10.0


def test_the_onset_comes_within_the_reported_latency(demo: LoadedModel) -> None:
    audio = phrase()
    chain = chain_for(demo)
    out = run(chain, audio, 64)
    onset_in = int(np.argmax(np.abs(audio) > 0))
    onset_out = int(np.argmax(np.abs(out) > 0))
    assert 0 < onset_out - onset_in <= round(chain.latency_s * RATE)
    assert chain.latency_s < 0.025  # the demo model's range: ~7 ms trackers + one frame


def test_output_does_not_depend_on_the_block_size(demo: LoadedModel) -> None:
    audio = phrase()
    reference = run(chain_for(demo), audio, 4096)
    for block in (37, 128, 1000):
        assert np.array_equal(run(chain_for(demo), audio, block), reference)


def a_level(audio: np.ndarray) -> float:
    """Median A-weighted loudness over the middle of a 1 s tone, dB."""
    return float(np.median(a_weighted_loudness(audio, sample_rate=RATE, hop=480)[30:90]))


def test_pitch_shift_and_loudness_offset_move_what_the_model_plays(demo: LoadedModel) -> None:
    tone = 0.2 * harmonic_tone(300.0, 1.0, sample_rate=RATE)
    plain = run(chain_for(demo), tone, 256)
    up = run(chain_for(demo, pitch_shift=12.0), tone, 256)
    offset = chain_for(demo, loudness_offset=-12.0)
    quieter = run(offset, tone, 256)
    mid = slice(int(0.3 * RATE), int(0.8 * RATE))
    ratio = np.median(yin_hz(up[mid])) / np.median(yin_hz(plain[mid]))
    assert abs(1200 * np.log2(ratio) - 1200) < 10.0
    # The decoder is given the tracked loudness plus the offset (how the model's level follows
    # it is the model's own: the demo's is learned), and plays clearly quieter.
    assert offset.engine.params.get("loudness_db") == pytest.approx(offset.input_db - 12.0)
    assert a_level(quieter) < a_level(plain) - 6.0


def test_the_dry_wet_mix_ramps_without_a_step(demo: LoadedModel) -> None:
    tone = 0.2 * harmonic_tone(300.0, 1.0, sample_rate=RATE)
    dry = run(chain_for(demo, effect_mix=0.0), tone, 256)
    assert np.array_equal(dry, tone)
    chain = chain_for(demo, effect_mix=0.0)
    half = tone.shape[0] // 2
    first = run(chain, tone[:half], 256)
    chain.engine.params.set("effect_mix", 1.0)  # as /grow/effect/mix would
    second = run(chain, tone[half:], 256)
    out = np.r_[first, second]
    wet = run(chain_for(demo), tone, 256)
    assert np.array_equal(out[:half], tone[:half])  # (half is a frame boundary: the ramp starts)
    # Within one frame (and its segment) of the change it is all wet, the steps between
    # samples no larger than the two signals' own.
    settle = half + 2 * chain.engine.hop_max()
    assert np.allclose(out[settle:], wet[settle:], atol=1e-6)
    own = max(np.abs(np.diff(tone)).max(), np.abs(np.diff(wet)).max())
    assert np.abs(np.diff(out)).max() <= own * 1.01


def test_the_chain_plays_one_voice(demo: LoadedModel) -> None:
    engine = Engine(demo, sample_rate=RATE, voices=4)
    with pytest.raises(ParameterError, match="one voice"):
        EffectChain(engine, StreamingTracker(RATE, f0_min_hz=100, f0_max_hz=1000))
    engine = Engine(demo, sample_rate=RATE, voices=1)
    with pytest.raises(ParameterError, match="44100"):
        EffectChain(engine, StreamingTracker(44100, f0_min_hz=100, f0_max_hz=1000))


def test_grow_render_streaming_is_the_live_chain(demo: LoadedModel, tmp_path: Path) -> None:
    audio = phrase()
    source = tmp_path / "in.wav"
    sf.write(source, audio, RATE, subtype="FLOAT")
    out = tmp_path / "out.wav"
    args = ["--input", str(source), "--tracker", "streaming", "--pitch-shift", "-2"]
    subprocess.run(
        [BIN / "grow-render", *args, "--format", "float", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    rendered, rate = sf.read(out, dtype="float32")
    chain = chain_for(demo, pitch_shift=-2.0)
    engine = chain.engine
    engine.params.set("gate_db", -70.0)
    live = render_through(chain, audio, blocksize=128)
    assert rate == RATE and rendered.shape == live.shape
    np.testing.assert_array_equal(rendered, live)


def test_the_duplex_callback_runs_the_chain(demo: LoadedModel) -> None:
    audio = phrase()[: RATE // 2 * 2]
    reference = run(chain_for(demo), audio, 128)
    chain = chain_for(demo)
    player = LivePlayer(chain.engine, blocksize=128, compute="callback", effect=chain)
    played = np.zeros((audio.shape[0], 2), np.float32)
    ok = SimpleNamespace(output_underflow=False)
    for start in range(0, audio.shape[0], 128):
        block = audio[start : start + 128, None]
        player.duplex_callback(block, played[start : start + 128], 128, None, ok)
    assert player.errors == 0
    np.testing.assert_array_equal(played[:, 0], reference)
    np.testing.assert_array_equal(played[:, 1], reference)


def test_notes_and_tracked_controls_from_controllers_are_ignored(demo: LoadedModel) -> None:
    """A note-off (a DAW's all-notes-off), a note-on, a pitch or loudness from OSC or MIDI
    change nothing in effect mode: the input owns them. Other controls still act."""
    from realtime.commands import Command, NoteOff, NoteOn, SetParam

    tone = 0.2 * harmonic_tone(300.0, 1.0, sample_rate=RATE)
    reference = run(chain_for(demo), tone, 128)
    chain = chain_for(demo)
    first = run(chain, tone[: RATE // 2], 128)
    posted: list[Command] = [NoteOff(), NoteOn(60.0, 0.3), SetParam("pitch_hz", 880.0)]
    posted += [SetParam("loudness_db", -5.0), SetParam("velocity", 0.1)]
    for command in posted:
        assert chain.engine.post(command)
    second = run(chain, tone[RATE // 2 :], 128)
    np.testing.assert_array_equal(np.r_[first, second], reference)
    assert chain.engine.ignored == len(posted)
    chain.engine.post(SetParam("gain_db", -20.0))
    quieter = run(chain, tone, 128)
    assert np.abs(quieter[RATE // 2 :]).max() < 0.2 * np.abs(reference[RATE // 2 :]).max()


def test_after_a_stall_queued_input_is_dropped_to_keep_the_latency(demo: LoadedModel) -> None:
    chain = chain_for(demo)
    player = LivePlayer(chain.engine, blocksize=128, compute="thread", prefill=2, effect=chain)
    assert player.in_ring is not None and player.ring is not None
    block = np.zeros(128, np.float32)
    ok = SimpleNamespace(output_underflow=False)
    out = np.zeros((128, 2), np.float32)
    for _ in range(4):  # the producer stalled: the callback queues input, plays silence
        player.duplex_callback(block[:, None], out, 128, None, ok)
    assert player.in_ring.available() == 4 * 128 and player.ring_underflows == 4
    player._drop_late_input(block)  # what the producer does first when it comes back
    assert player.in_ring.available() + player.ring.available() == player.prefill * 128
    assert player.input_dropped == 2
    # In the steady state (a block in, a block out per period) nothing is dropped.
    player.in_ring.pop(block)  # the producer computes a block ...
    player.ring.push(block)
    player.duplex_callback(block[:, None], out, 128, None, ok)  # ... the host takes one
    assert player.ring_underflows == 4
    player._drop_late_input(block)
    assert player.input_dropped == 2
    # A callback that has pushed its input but not yet taken its output: more is queued for
    # a moment, but nothing came up short, so nothing is dropped.
    player.in_ring.push(block)
    player.ring.push(block)
    player._drop_late_input(block)
    assert player.input_dropped == 2
