"""The per-scale spectral distance: the compiled CPU path against the tensor formula, and the
unfold STFT against torch.stft."""

from __future__ import annotations

import pytest
import torch

from trainer.losses import complex_spectrogram, multiscale_spectral_loss
from trainer.spectral_distance import spectral_distance


@pytest.mark.parametrize("n_fft", [2048, 512, 64])
def test_complex_spectrogram_is_torch_stft(n_fft: int) -> None:
    audio = torch.randn(3, 5000)
    expected = torch.stft(
        audio,
        n_fft,
        hop_length=n_fft // 4,
        window=torch.hann_window(n_fft),
        center=True,
        return_complex=True,
    )
    torch.testing.assert_close(complex_spectrogram(audio, n_fft=n_fft), expected)


@pytest.mark.parametrize("log_weight", [0.0, 1.0, 2.5])
def test_fast_distance_equals_the_formula_in_float64(log_weight: float) -> None:
    """Value and gradient of the float32 compiled path against the tensor formula in float64
    (which never takes the fast path), on spectra with exact zeros and near-equal bins."""
    torch.manual_seed(0)
    spec = torch.randn(4, 33, 70, dtype=torch.complex64)
    spec[:, 0, :5] = 0  # |X| = 0: zero gradient there, as X.abs()'s
    target = torch.randn(4, 33, 70, dtype=torch.complex64)
    target[:, 3] = 2 * spec[:, 3]
    fast_in = spec.clone().requires_grad_()
    ref_in = spec.to(torch.complex128).requires_grad_()

    fast = spectral_distance(fast_in, target, log_weight=log_weight, eps=1e-5)
    ref = spectral_distance(ref_in, target.to(torch.complex128), log_weight=log_weight, eps=1e-5)
    assert fast.shape == (4,)
    torch.testing.assert_close(fast.double(), ref.detach(), rtol=1e-5, atol=1e-6)

    weights = torch.tensor([1.0, -0.5, 2.0, 0.25])
    (fast_grad,) = torch.autograd.grad((fast * weights).sum(), [fast_in])
    (ref_grad,) = torch.autograd.grad((ref * weights.double()).sum(), [ref_in])
    torch.testing.assert_close(fast_grad.to(torch.complex128), ref_grad, rtol=1e-4, atol=1e-7)
    assert (fast_grad[:, 0, :5] == 0).all()


def test_tiny_and_non_finite_bins() -> None:
    """Bins far below float32's square range keep their true gradient; a NaN anywhere gives a
    NaN loss (the trainer's guard skips the step) instead of an error."""
    spec = torch.full((1, 3, 4), 1e-23, dtype=torch.complex64).requires_grad_()
    target = torch.ones(1, 3, 4, dtype=torch.complex64)
    (grad,) = torch.autograd.grad(spectral_distance(spec, target, log_weight=1.0, eps=1e-5), [spec])
    spec64 = spec.detach().to(torch.complex128).requires_grad_()
    reference = spectral_distance(spec64, target.to(torch.complex128), log_weight=1.0, eps=1e-5)
    (grad64,) = torch.autograd.grad(reference, [spec64])
    torch.testing.assert_close(grad.to(torch.complex128), grad64, rtol=1e-4, atol=0.0)

    for where in ("spec", "target"):
        spec = torch.randn(2, 3, 4, dtype=torch.complex64)
        target = torch.randn(2, 3, 4, dtype=torch.complex64)
        (spec if where == "spec" else target)[1, 0, 0] = float("nan")
        loss = spectral_distance(spec.requires_grad_(), target, log_weight=1.0, eps=1e-5)
        assert torch.isfinite(loss[0]) and torch.isnan(loss[1]), where


def test_a_target_of_another_shape_takes_the_formula() -> None:
    """Broadcasting (one target for a batch) gives what the tensor formula gives."""
    spec = torch.randn(3, 5, 6, dtype=torch.complex64, requires_grad=True)
    target = torch.randn(1, 5, 6, dtype=torch.complex64)
    loss = spectral_distance(spec, target, log_weight=1.0, eps=1e-5)
    with torch.no_grad():
        expected = spectral_distance(spec, target.expand(3, 5, 6), log_weight=1.0, eps=1e-5)
    torch.testing.assert_close(loss, expected)


def reference_loss(
    pred: torch.Tensor, target: torch.Tensor, sizes: tuple[int, ...]
) -> torch.Tensor:
    """The multi-scale loss written out with tensor operations (autograd does the gradient)."""
    loss = pred.new_zeros(())
    for n_fft in sizes:
        window = torch.hann_window(n_fft, dtype=pred.dtype)
        mags = [
            torch.stft(a, n_fft, n_fft // 4, window=window, return_complex=True).abs()
            for a in (pred, target)
        ]
        loss = loss + (mags[0] - mags[1]).abs().mean()
        loss = loss + (torch.log(mags[0] + 1e-5) - torch.log(mags[1] + 1e-5)).abs().mean()
    return loss


def test_training_loss_and_gradient_match_the_written_out_formula() -> None:
    torch.manual_seed(1)
    t = torch.arange(8000) / 24000
    target = 0.3 * torch.sin(2 * torch.pi * 440 * t)[None].repeat(2, 1)
    pred = (target + 0.05 * torch.randn(2, 8000)).requires_grad_()
    sizes = (1024, 256, 64)
    loss = multiscale_spectral_loss(pred, target, fft_sizes=sizes)
    expected = reference_loss(pred, target, sizes)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0.0)
    (grad,) = torch.autograd.grad(loss, [pred])
    (expected_grad,) = torch.autograd.grad(expected, [pred])
    torch.testing.assert_close(grad, expected_grad, rtol=1e-3, atol=1e-7)
