"""What the model does outside what it was trained on: quieter playing than any in training
keeps the timbre of the quietest trained playing and follows the input's level down."""

from __future__ import annotations

import pytest
import torch

from trainer.models.ddsp import DDSPAutoencoder, ModelConfig

LOW_DB = -40.0


def controls_at(model: DDSPAutoencoder, loudness_db: list[float]):
    torch.manual_seed(0)
    z = torch.randn(1, model.config.z_dim)
    f0 = torch.full((1, len(loudness_db)), 330.0)
    loud = torch.tensor([loudness_db])
    with torch.no_grad():
        return model.controls(f0, loud, z)[0]


@pytest.fixture(scope="module")
def model() -> DDSPAutoencoder:
    torch.manual_seed(1)
    return DDSPAutoencoder(ModelConfig(loudness_trained_low_db=LOW_DB)).eval()


def test_below_the_trained_loudness_the_level_follows_the_input_db_for_db(
    model: DDSPAutoencoder,
) -> None:
    # one frame per call: the GRU's state would otherwise differ between the frames
    at_low, quieter = (controls_at(model, [x]) for x in (LOW_DB, LOW_DB - 30.0))
    ratio = quieter.amplitude / at_low.amplitude
    assert torch.allclose(ratio, torch.full_like(ratio, 10 ** (-30.0 / 20)), rtol=1e-4)
    assert torch.allclose(quieter.noise_mags, at_low.noise_mags * 10 ** (-30.0 / 20), rtol=1e-4)
    assert torch.allclose(quieter.distribution, at_low.distribution, atol=1e-6)  # same timbre


def test_within_the_trained_loudness_nothing_changes(model: DDSPAutoencoder) -> None:
    unlimited = DDSPAutoencoder(ModelConfig())
    unlimited.load_state_dict(model.state_dict())
    for loud in (LOW_DB, -20.0, -5.0):
        a, b = controls_at(model, [loud]), controls_at(unlimited.eval(), [loud])
        assert torch.equal(a.harmonic_amps, b.harmonic_amps)
        assert torch.equal(a.noise_mags, b.noise_mags)


def test_a_model_without_a_trained_low_plays_any_loudness_as_the_network_decodes_it() -> None:
    torch.manual_seed(1)
    unlimited = DDSPAutoencoder(ModelConfig()).eval()
    assert unlimited.level_below_training(torch.tensor([[-100.0]])) is None
    quiet = controls_at(unlimited, [LOW_DB - 30.0])
    limited = DDSPAutoencoder(ModelConfig(loudness_trained_low_db=LOW_DB))
    limited.load_state_dict(unlimited.state_dict())
    assert not torch.allclose(
        quiet.amplitude, controls_at(limited.eval(), [LOW_DB - 30.0]).amplitude
    )
