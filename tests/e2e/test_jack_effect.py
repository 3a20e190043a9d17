"""`grow-live --jack` on a JACK dummy server at 48 kHz / 128: a real JACK client of its own
(`timbre-grower` with in_1, out_1, out_2, midi_in), routed with --jack-connect-in/-out to another
JACK client (tests/jack_loop.py's `tester`) that plays into it and records what comes back on the
same period clock.

Effect mode: the tester plays the bundled flute recording (a real instrument phrase) with
digital silence before, between and after its halves into in_1; the output must follow its pitch
(median error <= 20 cents over frames voiced in both, after the reported latency), be exactly
silent where the input is, and start within the reported latency (and within 30 ms). JACK MIDI:
a note sent to midi_in sounds at its pitch.

The play is retried (up to 3 times) when the tester's JACK client saw an xrun, which on these
VMs comes from host stalls (tests/e2e/test_grow_live.py's docstring), not from the engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.audio import load_audio
from tests.jack_loop import (
    jack_server,
    live_session,
    onset_latencies,
    pitch_error_cents,
    reported_latency_s,
    sound_in_silence,
    yin_hz,
)

BIN = Path(sys.executable).parent
RATE = 48000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jack_env() -> Iterator[dict[str, str]]:
    with jack_server(128, rate=RATE) as env:
        yield env


def test_effect_mode_follows_a_flute_played_into_in_1(
    jack_env: dict[str, str], example_path: Path
) -> None:
    flute = load_audio(example_path, sample_rate=RATE)
    half = flute.shape[0] // 2
    gap = np.zeros(RATE // 2, np.float32)
    signal_in = np.concatenate([gap, flute[:half], gap, flute[half:], gap])
    tester, stderr = live_session(
        jack_env, signal_in, "--effect", "--jack-connect-in", "tester:send"
    )
    sent, received = tester.sent, tester.received
    reported = reported_latency_s(stderr)
    onsets = [gap.shape[0], 2 * gap.shape[0] + half]
    latency = onset_latencies(sent, received, onsets) / RATE
    print(f"onset latency {np.round(1000 * latency, 1)} ms, reported {1000 * reported:.1f} ms")
    assert np.all(latency > 0) and np.all(latency <= min(reported + 128 / RATE, 0.030)), stderr
    error = pitch_error_cents(sent, received, rate=RATE, lag_s=reported)
    print(f"pitch: median {np.median(error):.1f} cents over {error.shape[0]} frames")
    assert error.shape[0] > 300
    assert np.median(error) <= 20.0
    checked, loud = sound_in_silence(sent, received, rate=RATE)
    assert checked > 50 and loud == 0
    assert tester.xruns > 0 or " 0 underflows" in stderr, stderr


def test_a_jack_midi_note_sounds_at_its_pitch(jack_env: dict[str, str]) -> None:
    silence = np.zeros(RATE * 3 // 2, np.float32)
    midi = ((RATE // 5, bytes([0x90, 69, 100])), (RATE * 7 // 10, bytes([0x80, 69, 0])))
    tester, _ = live_session(jack_env, silence, midi=midi)
    received = tester.received
    assert not np.any(received[: RATE // 5])  # nothing before the note
    held = received[RATE * 3 // 10 : RATE * 6 // 10]
    assert np.sqrt(np.mean(held**2)) > 1e-3
    pitch = float(np.median(yin_hz(held, RATE)))
    assert abs(1200 * np.log2(pitch / 440.0)) < 20.0
    assert np.sqrt(np.mean(received[-RATE // 5 :] ** 2)) < 1e-5  # released (0.25 s) and gone


def test_jack_options_are_checked(jack_env: dict[str, str]) -> None:
    cases = [
        (["--jack-connect-in", "nobody:out"], "no such audio output port"),
        (["--jack-connect-out", "nobody:in"], "no such audio input port"),
        (["--blocksize", "256"], "period is 128"),
        (["--device", "1"], "with --jack the JACK server sets"),
    ]
    for options, words in cases:
        result = subprocess.run(
            [str(BIN / "grow-live"), "--jack", "--osc-port", "0", "--seconds", "1", *options],
            env=jack_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (options, result.stderr)
        assert words in result.stderr, (options, result.stderr)


def test_without_a_jack_server_the_error_says_what_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"nobody-{os.getpid()}"}
    result = subprocess.run(
        [str(BIN / "grow-live"), "--jack", "--effect", "--osc-port", "0", "--seconds", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "no JACK server" in result.stderr and "jackd -d dummy" in result.stderr
    assert "Traceback" not in result.stderr
