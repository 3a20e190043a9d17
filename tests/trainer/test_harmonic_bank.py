"""The compiled harmonic bank (trainer/harmonic_bank.py) against the tensor formulation of the
same sum in float64, which harmonic_synth runs for any other dtype or device."""

from __future__ import annotations

import numpy as np
import torch

from trainer.dsp import harmonic_synth
from trainer.harmonic_bank import compiled_bank_applies
from trainer.losses import complex_spectrogram
from trainer.spectral_distance import spectral_distance

SR, HOP = 24000, 240


def controls(batch: int = 5, frames: int = 12, harmonics: int = 24) -> tuple[torch.Tensor, ...]:
    """f0 [batch, frames] with one glide through Nyquist for harmonic 5 (item 0) and a very high
    note (item 1, only two harmonics audible); amplitudes [batch, frames, harmonics] with the top
    four silent everywhere (not computed); a random output gradient [batch, frames * HOP]."""
    gen = torch.Generator().manual_seed(4)
    f0 = 150.0 + 400.0 * torch.rand(batch, frames, generator=gen)
    f0[0] = torch.linspace(1800.0, 3000.0, frames)
    f0[1] = 5000.0
    amps = torch.rand(batch, frames, harmonics, generator=gen) * 0.1
    amps[..., -4:] = 0.0
    grad = torch.randn(batch, frames * HOP, generator=gen)
    return f0, amps, grad


def synth_and_gradient(
    f0: torch.Tensor, amps: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = amps.clone().requires_grad_()
    audio, _ = harmonic_synth(f0, leaf, sample_rate=SR, hop=HOP)
    (audio * grad.to(audio.dtype)).sum().backward()
    assert leaf.grad is not None
    return audio.detach(), leaf.grad


def test_the_compiled_bank_is_the_tensor_sum_and_its_gradient() -> None:
    f0, amps, grad = controls()
    assert compiled_bank_applies(amps) and not compiled_bank_applies(amps.double())
    audio, d_amps = synth_and_gradient(f0, amps, grad)
    reference, d_reference = synth_and_gradient(f0, amps.double(), grad)
    assert audio.dtype == torch.float32
    assert torch.allclose(audio.double(), reference, atol=2e-6)
    assert torch.allclose(d_amps.double(), d_reference, rtol=1e-5, atol=1e-4)
    assert float(reference.abs().max()) > 0.1 and float(d_reference.abs().max()) > 1.0
    # above Nyquist: exactly silent, and the silent harmonics get exactly no gradient
    assert torch.count_nonzero(d_amps[1, :, 2:]) == 0
    assert torch.count_nonzero(d_amps[..., -4:]) == 0


def test_the_compiled_kernels_do_not_depend_on_the_thread_count() -> None:
    """The bank, its gradient, and the spectral distance with its gradient (each split by batch
    item over the cores) give the same bits on one thread and on two."""
    f0, amps, grad = controls(batch=7)
    target = torch.randn(7, 12 * HOP, generator=torch.Generator().manual_seed(1))
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            audio, d_amps = synth_and_gradient(f0, amps, grad)
            spec = complex_spectrogram(audio, n_fft=256).requires_grad_()
            true = complex_spectrogram(target, n_fft=256)
            distance = spectral_distance(spec, true, log_weight=1.0, eps=1e-5)
            distance.sum().backward()
            assert spec.grad is not None
            results.append((audio, d_amps, distance.detach(), spec.grad))
    finally:
        torch.set_num_threads(before)
    for one, two in zip(results[0], results[1], strict=True):
        assert torch.equal(one, two)


def test_a_non_finite_amplitude_comes_out_non_finite() -> None:
    f0, amps, grad = controls()
    amps[2, 5, 3] = float("nan")
    audio, d_amps = synth_and_gradient(f0, amps, grad)
    assert not torch.isfinite(audio[2]).all()
    assert torch.isfinite(audio[[0, 1, 3, 4]]).all()
    assert np.isfinite(d_amps[[0, 1, 3, 4]].numpy()).all()
