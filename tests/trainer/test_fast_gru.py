"""The compiled GRU recurrence against nn.GRU itself: same outputs, state and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.fast_gru import FAST_MAX_HIDDEN, gru_sequence, takes_fast_path
from trainer.models.decoder import Decoder
from trainer.models.presets import decoder_size


def gradients(out: torch.Tensor, state: torch.Tensor, leaves: list[torch.Tensor]) -> list:
    """Gradients of a loss that weights every output frame and the final state differently."""
    weights = torch.linspace(-1.0, 2.0, out.numel()).reshape(out.shape)
    loss = (out * weights).sum() + 0.5 * state.square().sum()
    return list(torch.autograd.grad(loss, leaves))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("with_h0", [False, True])
def test_gru_sequence_equals_nn_gru(layers: int, with_h0: bool) -> None:
    torch.manual_seed(layers)
    gru = nn.GRU(12, 24, num_layers=layers, batch_first=True)
    x = torch.randn(3, 40, 12, requires_grad=True)
    h0 = torch.randn(layers, 3, 24, requires_grad=True) if with_h0 else None
    assert takes_fast_path(gru, x)
    leaves = [x, *gru.parameters()] + ([h0] if h0 is not None else [])

    fast_out, fast_state = gru_sequence(gru, x, h0)
    ref_out, ref_state = gru(x, h0)
    torch.testing.assert_close(fast_out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast_state, ref_state, rtol=1e-5, atol=1e-6)
    for fast, ref in zip(
        gradients(fast_out, fast_state, leaves), gradients(ref_out, ref_state, leaves), strict=True
    ):
        torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5)


def test_saturated_gates_stay_exact() -> None:
    """Large pre-activations (tanh written through exp must not overflow into NaN)."""
    torch.manual_seed(3)
    gru = nn.GRU(4, 8, batch_first=True)
    x = (60.0 * torch.randn(2, 30, 4)).requires_grad_()
    fast_out, _ = gru_sequence(gru, x)
    ref_out, _ = gru(x)
    assert torch.isfinite(fast_out).all()
    torch.testing.assert_close(fast_out, ref_out, rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(fast_out.sum(), [x])
    (ref_grad,) = torch.autograd.grad(ref_out.sum(), [x])
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_a_nan_comes_out_as_nan() -> None:
    """The trainer's non-finite guard must see it (a crash would end the run)."""
    gru = nn.GRU(4, 8, batch_first=True)
    x = torch.randn(2, 10, 4)
    x[1, 3, 0] = float("nan")
    x.requires_grad_()
    out, _ = gru_sequence(gru, x)
    assert torch.isnan(out[1, 3:]).all() and torch.isfinite(out[0]).all()
    (grad,) = torch.autograd.grad(out[0].sum(), [x])
    assert torch.isfinite(grad[0]).all()


def test_shapes_nn_gru_refuses_are_refused() -> None:
    gru = nn.GRU(4, 8, batch_first=True)
    x = torch.randn(2, 10, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="hidden"):
        gru_sequence(gru, x, torch.zeros(1, 1, 8))  # batch 1 state for a batch of 2


def test_a_second_derivative_is_refused() -> None:
    gru = nn.GRU(4, 8, batch_first=True)
    x = torch.randn(2, 10, 4, requires_grad=True)
    out, _ = gru_sequence(gru, x)
    (grad,) = torch.autograd.grad(out.square().sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_eval_no_grad_and_other_dtypes_use_nn_gru() -> None:
    gru = nn.GRU(4, 8, batch_first=True)
    x = torch.randn(2, 5, 4)
    assert takes_fast_path(gru, x)
    with torch.no_grad():
        assert not takes_fast_path(gru, x)
    assert not takes_fast_path(gru, x.double())
    gru.eval()
    assert not takes_fast_path(gru, x)  # export traces the module in eval mode
    assert not takes_fast_path(nn.GRU(4, FAST_MAX_HIDDEN + 1, batch_first=True), x)


def test_a_training_decoder_computes_what_the_exported_one_does() -> None:
    """The decoder in training mode (compiled recurrence) and in eval mode (nn.GRU, what export
    traces) give the same controls and gradients for the same inputs and state."""
    torch.manual_seed(0)
    decoder = Decoder(decoder_size("tiny"), z_dim=4, n_harmonics=16, n_noise_bands=8)
    f0, loud, z = torch.rand(2, 50), torch.rand(2, 50), torch.randn(2, 4)
    state = 0.1 * torch.randn(1, 2, decoder.size.gru_hidden)
    state.requires_grad_()
    params = [*decoder.parameters(), state]

    def run() -> tuple[torch.Tensor, torch.Tensor, list]:
        raw, new_state = decoder(f0, loud, z, state)
        loss = (raw * torch.linspace(-1, 1, raw.shape[-1])).sum() + new_state.square().sum()
        return raw, new_state, list(torch.autograd.grad(loss, params))

    assert takes_fast_path(decoder.gru, torch.zeros(2, 50, decoder.size.mlp_width))
    train_raw, train_state, train_grads = run()
    decoder.eval()
    eval_raw, eval_state, eval_grads = run()
    torch.testing.assert_close(train_raw, eval_raw, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(train_state, eval_state, rtol=1e-5, atol=1e-6)
    for trained, reference in zip(train_grads, eval_grads, strict=True):
        torch.testing.assert_close(trained, reference, rtol=1e-4, atol=1e-5)
