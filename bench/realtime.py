"""Cost of the real-time engine, as x real time on one core (higher is better; 1 = just in time).

For each output rate and block size: `Engine.process` on the demo model, worst case: a held note
with the mask half blended (masked and unmasked amplitudes both needed: one call of a format-3
graph, two of an older one) and every harmonic sounding. Per control frame: the step graph
(decoder + NCA step, onnxruntime, one thread), the harmonic bank and the filtered noise. Beside
them, in the same run, a naive engine: torch eager per block (the decoder stepped frame by frame,
then the training synth on the block). Then the same worst case with 1, 2, 4 and 8 voices
sounding at once (a chord, every voice held).

    python bench/realtime.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# This file is called realtime.py: keep its folder off the path so `import realtime` finds the
# package, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from realtime.commands import NoteOn  # noqa: E402
from realtime.engine import Engine  # noqa: E402
from realtime.model import load_model  # noqa: E402
from realtime.render_cli import demo_model_path  # noqa: E402
from realtime.step_runner import StepRunner  # noqa: E402
from realtime.synth import NoiseFilter, OscillatorBank, frame_noise  # noqa: E402
from trainer.dsp import filtered_noise, harmonic_synth  # noqa: E402
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig  # noqa: E402

RATES = (44100, 48000, 96000)
BLOCKS = (32, 64, 128, 256, 512, 1024)


def x_realtime(seconds_of_audio: float, wall: float) -> float:
    return seconds_of_audio / wall


CHORD = (57.0, 60.0, 64.0, 67.0, 69.0, 72.0, 76.0, 79.0)  # the notes held by 1..8 voices
VOICES = (1, 2, 4, 8)


def engine_speed(model, rate: int, block: int, seconds: float, voices: int = 1) -> float:  # type: ignore[no-untyped-def]
    engine = Engine(model, sample_rate=rate, voices=voices)
    engine.params.set("mask_blend", 0.5)
    for note in CHORD[:voices]:
        engine.apply(NoteOn(note))
    engine.process(rate // 10)  # warm up
    n_blocks = int(seconds * rate / block)
    out = np.zeros(block, np.float32)
    start = time.perf_counter()
    for _ in range(n_blocks):
        engine.process(block, out=out)
    return x_realtime(n_blocks * block / rate, time.perf_counter() - start)


def part_costs(model, rate: int, frames: int = 300) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Seconds per control frame of each part, as the engine runs them (one voice)."""
    meta = model.meta
    engine = Engine(model, sample_rate=rate)
    engine.apply(NoteOn(69.0))
    engine.process(rate // 10)
    voice, hop = engine.voice, engine.hop_max()
    runner = StepRunner(model, 1)
    inputs = runner.inputs(1)
    inputs["f0_hz"][:] = 440.0
    inputs["loudness_db"][:] = -20.0
    inputs["z"][:] = voice.z
    inputs["gru_state"][:] = voice.gru_state
    inputs["nca_state"][:] = voice.nca_state
    inputs["nca_step"][:] = 1.0
    inputs["nca_fire"][:] = 1.0
    costs = {}
    start = time.perf_counter()
    for _ in range(frames):
        out = runner.run(1, "both")
    costs["step graph (decoder + NCA)"] = (time.perf_counter() - start) / frames
    amps = np.full(meta.n_harmonics, 0.01, np.float32)  # every harmonic sounding
    bank, block = OscillatorBank(hop, sample_rate=rate), np.zeros(hop, np.float32)
    bank.render(220.0, 221.0, amps, amps, length=hop, start=0, phase=0.0, out=block)  # compile
    start = time.perf_counter()
    phase = 0.0
    for _ in range(frames):
        phase = bank.render(220.0, 221.0, amps, amps, length=hop, start=0, phase=phase, out=block)
    costs["harmonic bank"] = (time.perf_counter() - start) / frames
    noise = NoiseFilter(
        meta.n_noise_bands, out_rate=rate, train_rate=meta.sample_rate, max_samples=hop
    )
    mags, acc = out.noise_mags[0].astype(np.float64), np.zeros(3 * hop + 4 * noise.delay)
    start = time.perf_counter()
    for t in range(frames):
        frame_noise(0, t, hop, out=noise.white(hop))
        noise.add_filtered(hop, mags, acc, 0)
    costs["filtered noise"] = (time.perf_counter() - start) / frames
    return costs


def block_costs(model, voices: int, block: int, seconds: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Seconds each `process(block)` took at 48 kHz, worst case, `voices` sounding."""
    engine = Engine(model, sample_rate=48000, voices=voices)
    engine.params.set("mask_blend", 0.5)
    for note in CHORD[:voices]:
        engine.apply(NoteOn(note))
    out = np.zeros(block, np.float32)
    for _ in range(48000 // 10 // block):
        engine.process(block, out=out)
    costs = np.zeros(int(seconds * 48000 / block))
    for i in range(costs.shape[0]):
        start = time.perf_counter()
        engine.process(block, out=out)
        costs[i] = time.perf_counter() - start
    return costs


def naive_speed(rate: int, block: int, seconds: float) -> float:
    """torch eager per block: decoder frame by frame, then the training synth (at 24 kHz)."""
    model = DDSPAutoencoder(ModelConfig()).eval()
    hop, train_rate = model.config.hop, model.config.sample_rate
    frames_per_block = max(1, round(block * train_rate / rate / hop))
    z = torch.zeros(1, model.config.z_dim)
    state = None
    n_blocks = int(seconds * rate / block)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(n_blocks):
            raws = []
            for _ in range(frames_per_block):
                raw, state = model.decode_raw(
                    torch.full((1, 1), 440.0), torch.full((1, 1), -20.0), z, state=state
                )
                raws.append(raw)
            raw = torch.cat(raws, dim=1)
            f0 = torch.full((1, frames_per_block), 440.0)
            controls = model.physical_controls(raw, f0, torch.full((1, frames_per_block), -20.0))
            harmonic_synth(f0, controls.harmonic_amps, sample_rate=train_rate, hop=hop)
            filtered_noise(controls.noise_mags, torch.rand(1, frames_per_block * hop), hop=hop)
    return x_realtime(n_blocks * block / rate, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(demo_model_path())
    print(f"\nEngine.process, x real time on one core ({args.seconds:g} s of audio per cell)")
    print(f"{'rate':>6} " + " ".join(f"{f'block {b}':>10}" for b in BLOCKS))
    for rate in RATES:
        cells = [engine_speed(model, rate, b, args.seconds) for b in BLOCKS]
        print(f"{rate:>6} " + " ".join(f"{c:10.1f}" for c in cells))
    print("\nVoices sounding, x real time at 48 kHz (worst case as above)")
    print(f"{'voices':>6} " + " ".join(f"{f'block {b}':>10}" for b in (64, 512)))
    for voices in VOICES:
        cells = [engine_speed(model, 48000, b, args.seconds, voices) for b in (64, 512)]
        print(f"{voices:>6} " + " ".join(f"{c:10.1f}" for c in cells))
    print("\nOne 64-sample block at 48 kHz (1.33 ms): cost as % of the period")
    print(f"{'voices':>6} {'median':>8} {'p99':>8} {'max':>8}  (a block that begins a frame)")
    period = 64 / 48000
    for voices in VOICES:
        loads = block_costs(model, voices, 64, args.seconds) / period * 100
        median, p99, worst = np.percentile(loads, [50, 99, 100])
        print(f"{voices:>6} {median:7.1f}% {p99:7.1f}% {worst:7.1f}%")
    print("\nNaive engine (torch eager per block), x real time")
    print(f"{'rate':>6} " + " ".join(f"{f'block {b}':>10}" for b in BLOCKS))
    for rate in (48000,):
        cells = [naive_speed(rate, b, args.seconds) for b in BLOCKS]
        print(f"{rate:>6} " + " ".join(f"{c:10.1f}" for c in cells))
    print("\nParts, microseconds per control frame (10 ms of audio)")
    for rate in RATES:
        costs = part_costs(model, rate)
        print(f"{rate:>6} " + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in costs.items()))


if __name__ == "__main__":
    main()
