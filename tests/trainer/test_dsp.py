"""The differentiable synth against independent numpy references and its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal

from trainer.dsp import (
    design_noise_filter,
    fft_convolve,
    filtered_noise,
    filtered_noise_power,
    harmonic_synth,
    overlap_add,
    upsample_linear,
)

SR, HOP = 24000, 240


def numpy_oscillator_bank(f0_frames: np.ndarray, amp_frames: np.ndarray) -> np.ndarray:
    """Reference: per-sample interpolation with np.interp, float64 phase, per-sample Nyquist."""
    n_frames, n_harm = amp_frames.shape
    n = n_frames * HOP
    frame_pos = np.arange(n_frames) * HOP
    samples = np.arange(n)
    f0 = np.interp(samples, frame_pos, f0_frames)
    phase = np.concatenate([[0.0], np.cumsum(2 * np.pi * f0 / SR)[:-1]])
    out = np.zeros(n)
    for k in range(1, n_harm + 1):
        amp = np.interp(samples, frame_pos, amp_frames[:, k - 1])
        out += np.where(k * f0 < SR / 2, amp * np.sin(k * phase), 0.0)
    return out


def test_harmonic_synth_matches_numpy_oscillator_bank() -> None:
    rng = np.random.default_rng(1)
    n_frames, n_harm = 50, 12
    f0 = np.linspace(200, 900, n_frames)  # a glide; harmonic 12 stays below Nyquist
    amps = rng.uniform(0, 0.05, size=(n_frames, n_harm))
    audio, _ = harmonic_synth(
        torch.tensor(f0[None], dtype=torch.float32),
        torch.tensor(amps[None], dtype=torch.float32),
        sample_rate=SR,
        hop=HOP,
    )
    reference = numpy_oscillator_bank(f0.astype(np.float32).astype(np.float64), amps)
    error = audio[0].numpy() - reference
    assert 20 * np.log10(np.abs(error).max() / np.abs(reference).max()) < -60


def test_harmonics_at_or_above_nyquist_are_exactly_zero() -> None:
    f0 = torch.full((1, 20), 4000.0)  # harmonic 3 = 12 kHz = Nyquist at 24 kHz
    amps = torch.zeros(1, 20, 16)
    amps[..., 2:] = 1.0  # energy only in harmonics 3..16
    audio, _ = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP)
    assert torch.count_nonzero(audio) == 0
    amps[..., 1] = 1.0  # harmonic 2 (8 kHz) is audible
    audio, _ = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP)
    assert audio.abs().max() > 0.5


def test_harmonic_switches_off_where_a_glide_crosses_nyquist() -> None:
    f0 = torch.linspace(1800.0, 3000.0, 11)[None]  # harmonic 5 crosses 12 kHz at 2400 Hz
    amps = torch.zeros(1, 11, 8)
    amps[..., 4] = 1.0
    audio, _ = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP)
    f0_per_sample = np.interp(np.arange(11 * HOP), np.arange(11) * HOP, f0[0].numpy())
    crossing = int(np.argmax(5 * f0_per_sample >= SR / 2))
    assert 0 < crossing < 11 * HOP
    assert torch.count_nonzero(audio[0, crossing + 1 :]) == 0
    assert audio[0, : crossing - 1].abs().max() > 0.9


def test_final_phase_continues_the_oscillator() -> None:
    f0 = torch.full((1, 10), 330.0)
    amps = torch.zeros(1, 10, 1)
    amps[..., 0] = 1.0
    whole, _ = harmonic_synth(f0.repeat(1, 2), amps.repeat(1, 2, 1), sample_rate=SR, hop=HOP)
    first, phase = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP)
    second, _ = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP, initial_phase=phase)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-4)


def test_upsample_linear_hits_frame_values_and_interpolates() -> None:
    frames = torch.tensor([[[0.0], [1.0], [3.0]]])
    up = upsample_linear(frames, hop=4)[0, :, 0]
    assert up.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0, 3.0, 3.0]


def test_noise_filter_is_linear_phase() -> None:
    mags = torch.rand(2, 3, 65)
    ir = design_noise_filter(mags)
    assert ir.shape == (2, 3, 129)
    assert torch.allclose(ir, ir.flip(-1), atol=1e-6)


def test_flat_filter_passes_noise_through_unchanged() -> None:
    """All-ones magnitudes give a centred unit impulse: the delay compensation and overlap-add
    must then return the input noise exactly."""
    noise = torch.rand(2, 30 * HOP) * 2 - 1
    out = filtered_noise(torch.ones(2, 30, 64), noise, hop=HOP)
    assert torch.allclose(out, noise, atol=1e-5)


def test_overlap_add_against_python_loop() -> None:
    frames = torch.rand(1, 7, 11)
    out = overlap_add(frames, hop=4)
    expected = np.zeros(6 * 4 + 11)
    for t in range(7):
        expected[t * 4 : t * 4 + 11] += frames[0, t].numpy()
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-6)


def test_filtered_noise_follows_band_magnitudes() -> None:
    """Measured noise spectrum (Welch) matches the band magnitudes' shape within 1 dB."""
    n_bands, n_frames = 64, 800  # 8 s
    band_db = np.linspace(0.0, -30.0, n_bands)  # a smooth 30 dB tilt from 0 Hz to Nyquist
    mags = torch.tensor(10 ** (band_db / 20), dtype=torch.float32).expand(1, n_frames, n_bands)
    noise = torch.rand(1, n_frames * HOP, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = filtered_noise(mags.contiguous(), noise, hop=HOP)[0].numpy()
    freqs, psd = signal.welch(out, fs=SR, nperseg=1024)
    band_freqs = np.linspace(0, SR / 2, n_bands)
    inside = (freqs > 300) & (freqs < SR / 2 - 300)
    expected_db = np.interp(freqs[inside], band_freqs, band_db)
    measured_db = 10 * np.log10(psd[inside])
    offset = np.mean(measured_db - expected_db)
    # uniform noise in [-1, 1] has variance 1/3: its one-sided PSD is (1/3) / (SR / 2)
    assert offset == pytest.approx(10 * np.log10((1 / 3) / (SR / 2)), abs=0.5)
    assert np.max(np.abs(measured_db - expected_db - offset)) < 1.5
    assert np.mean(np.abs(measured_db - expected_db - offset)) < 0.5


def test_filtered_noise_power_is_the_exact_expected_square() -> None:
    """filtered_noise is linear in the noise: out = M w. For independent draws of variance v,
    E[out_i²] = v * sum_j M[i, j]². M is read column by column from unit impulses; the band gains
    change from frame to frame, so the FIR tails that cross frames are in it."""
    hop, n_frames, n_bands, variance = 16, 5, 8, 1.0 / 3.0
    rng = np.random.default_rng(7)
    mags = torch.tensor(rng.uniform(0.0, 1.0, size=(1, n_frames, n_bands)), dtype=torch.float32)
    impulses = torch.eye(n_frames * hop)  # row j: a unit impulse at j
    columns = filtered_noise(mags.expand(n_frames * hop, -1, -1), impulses, hop=hop)  # M.T
    expected = variance * columns.square().sum(dim=0)
    power = filtered_noise_power(mags, hop=hop, variance=variance)[0]
    assert torch.allclose(power, expected, rtol=1e-4, atol=1e-9)
    frame_means = power.reshape(n_frames, hop).mean(dim=1)
    assert float(frame_means.max()) > 1.2 * float(frame_means.min())  # the gains do change


def test_synth_is_batch_consistent() -> None:
    rng = np.random.default_rng(3)
    f0 = torch.tensor(rng.uniform(100, 1000, size=(3, 12)), dtype=torch.float32)
    amps = torch.tensor(rng.uniform(0, 0.1, size=(3, 12, 32)), dtype=torch.float32)
    mags = torch.tensor(rng.uniform(0, 0.1, size=(3, 12, 16)), dtype=torch.float32)
    noise = torch.rand(3, 12 * HOP) * 2 - 1
    batched, _ = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP)
    batched_noise = filtered_noise(mags, noise, hop=HOP)
    for i in range(3):
        one, _ = harmonic_synth(f0[i : i + 1], amps[i : i + 1], sample_rate=SR, hop=HOP)
        assert torch.allclose(one, batched[i : i + 1], atol=1e-5)
        one_noise = filtered_noise(mags[i : i + 1], noise[i : i + 1], hop=HOP)
        assert torch.allclose(one_noise, batched_noise[i : i + 1], atol=1e-6)


def test_synth_gradients_reach_the_controls() -> None:
    amps = torch.rand(1, 5, 8, requires_grad=True)
    mags = torch.rand(1, 5, 16, requires_grad=True)
    audio, _ = harmonic_synth(torch.full((1, 5), 220.0), amps, sample_rate=SR, hop=HOP)
    (audio + filtered_noise(mags, torch.rand(1, 5 * HOP), hop=HOP)).pow(2).sum().backward()
    assert amps.grad is not None and amps.grad.abs().sum() > 0
    assert mags.grad is not None and mags.grad.abs().sum() > 0


def test_fft_convolve_matches_numpy() -> None:
    rng = np.random.default_rng(4)
    audio = rng.standard_normal((2, 1000)).astype(np.float32)
    ir = rng.standard_normal(300).astype(np.float32)
    out = fft_convolve(torch.from_numpy(audio), torch.from_numpy(ir)).numpy()
    for b in range(2):
        np.testing.assert_allclose(out[b], np.convolve(audio[b], ir)[:1000], atol=1e-4)


def test_silent_upper_harmonics_are_skipped_without_changing_sound_or_gradients() -> None:
    """Harmonics with zero amplitude everywhere are left out of the bank: the audio and the
    gradients equal those of the bank that computes them (forced by a 1e-30 amplitude), on a
    glide whose upper harmonics cross Nyquist within the segment."""
    rng = np.random.default_rng(5)
    f0 = torch.tensor(np.linspace(300, 1400, 20)[None], dtype=torch.float32)
    base = rng.uniform(0, 0.1, size=(1, 20, 64))
    base[..., 30:] = 0.0  # the upper half silent, as get_controls leaves untrained harmonics
    results = []
    for forced in (0.0, 1e-30):
        amps = torch.tensor(base, dtype=torch.float32)
        amps[..., -1] = forced  # 1e-30: every harmonic is computed
        amps.requires_grad_(True)
        audio, _ = harmonic_synth(f0, amps, sample_rate=SR, hop=HOP)
        audio.pow(2).sum().backward()
        assert amps.grad is not None
        results.append((audio.detach(), amps.grad[..., :30]))
    (skipped, skipped_grad), (full, full_grad) = results
    assert torch.allclose(skipped, full, atol=1e-6)
    assert torch.allclose(skipped_grad, full_grad, rtol=1e-4, atol=1e-4)
    reference = numpy_oscillator_bank(f0[0].double().numpy(), base[0])
    assert np.abs(skipped[0].numpy() - reference).max() < 1e-4
