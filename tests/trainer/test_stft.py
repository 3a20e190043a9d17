"""The loss STFT's written-out backward (trainer/stft.py) against autograd's."""

from __future__ import annotations

import pytest
import torch

from trainer.stft import framed_rfft, stft_applies


def autograd_framed_rfft(audio: torch.Tensor, window: torch.Tensor, hop: int) -> torch.Tensor:
    n_fft = window.shape[0]
    padded = torch.nn.functional.pad(audio[:, None], (n_fft // 2, n_fft // 2), mode="reflect")
    return torch.fft.rfft(padded[:, 0].unfold(-1, n_fft, hop) * window)


@pytest.mark.parametrize(("n", "n_fft", "hop"), [(2400, 256, 64), (2400, 64, 16), (1000, 256, 64)])
def test_the_written_out_backward_is_autograd_s(n: int, n_fft: int, hop: int) -> None:
    """The same spectrum, and the same gradient for a random complex gradient of it (real and
    imaginary parts in every bin, DC and Nyquist included); 1000 is not a whole number of hops,
    so the last samples are covered by the padding's reflection only."""
    gen = torch.Generator().manual_seed(n_fft)
    audio = torch.randn(3, n, generator=gen)
    window = torch.hann_window(n_fft)
    ours = audio.clone().requires_grad_()
    theirs = audio.clone().requires_grad_()
    assert stft_applies(ours)
    spec = framed_rfft(ours, window, hop)
    expected = autograd_framed_rfft(theirs, window, hop)
    torch.testing.assert_close(spec, expected)
    grad = torch.randn(spec.shape, dtype=torch.complex64, generator=gen)
    (spec * grad).real.sum().backward()
    (expected * grad).real.sum().backward()
    assert ours.grad is not None and theirs.grad is not None
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-4, atol=1e-4)
    assert float(theirs.grad.abs().max()) > 1.0


def test_only_cpu_float32_audio_with_a_gradient_takes_it() -> None:
    audio = torch.randn(1, 100)
    assert not stft_applies(audio)
    assert not stft_applies(audio.double().requires_grad_())
    with torch.no_grad():
        assert not stft_applies(audio.requires_grad_())
