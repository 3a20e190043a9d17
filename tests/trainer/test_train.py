"""The training loop on real components: overfitting, the non-finite guard, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import TrainingError
from core.features import FeatureConfig, compute_features, silence_features
from tests.conftest import harmonic_tone
from trainer.checkpoint import load_checkpoint
from trainer.dataset import SegmentDataset
from trainer.distributed import DistInfo
from trainer.guard import NonFiniteGuard
from trainer.models.ddsp import DDSPAutoencoder, ModelConfig, count_parameters
from trainer.models.presets import PRESETS
from trainer.run_dir import RunDir
from trainer.train import DDSPTrainer, TrainConfig

SR, HOP = 24000, 240


def make_trainer(tmp_path: Path, audio: np.ndarray, **train_kwargs) -> DDSPTrainer:
    feature_config = FeatureConfig(f0_tracker="yin")
    features = compute_features(audio, feature_config)
    dataset = SegmentDataset(
        [features],
        ["tone"],
        hop=HOP,
        segment_frames=50,
        val_fraction=0.1,
        silence=silence_features(50, feature_config),
    )
    torch.manual_seed(0)
    model = DDSPAutoencoder(
        ModelConfig(loudness_mean=dataset.loudness_mean, loudness_std=dataset.loudness_std)
    )
    config = TrainConfig(batch_size=4, segment_seconds=0.5, **train_kwargs)
    return DDSPTrainer(
        model,
        dataset,
        config,
        RunDir(tmp_path),
        device=torch.device("cpu"),
        dist_info=DistInfo(),
        log=lambda line: None,
    )


def test_presets_sizes() -> None:
    tiny = count_parameters(DDSPAutoencoder(ModelConfig(preset="tiny")).decoder)
    seed = DDSPAutoencoder(ModelConfig(preset="seed")).decoder
    assert tiny < 500_000
    assert (seed.gru.hidden_size, seed.gru.num_layers) == (512, 2)
    assert set(PRESETS) >= {"tiny", "seed"}


@pytest.mark.slow
def test_overfits_a_harmonic_tone(tmp_path: Path) -> None:
    """On 3 s of one harmonic tone the loss falls by at least 2.5x in 150 steps."""
    audio = harmonic_tone(
        262.0, 3.0, sample_rate=SR, harmonic_amps=(0.3, 0.15, 0.2, 0.05, 0.08), vibrato_cents=30
    )
    trainer = make_trainer(tmp_path, audio, steps=150, checkpoint_every=1000, learning_rate=3e-3)
    reason = trainer.fit(minutes=None, progress=False)
    losses = trainer.state.history["loss"]
    assert reason == "steps" and len(losses) == 150
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) / 2.5


def test_non_finite_gradients_skip_the_step_and_stop_when_persistent(tmp_path: Path) -> None:
    audio = harmonic_tone(262.0, 1.5, sample_rate=SR)
    trainer = make_trainer(tmp_path, audio, steps=10, max_bad_steps=3)
    trainer.dataset.train[0].audio[:] = np.nan  # every target now gives a NaN loss
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    guard = NonFiniteGuard(limit=3)
    assert np.isnan(trainer.train_step(guard))
    assert guard.skipped == 1
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    with pytest.raises(TrainingError, match="3 steps in a row had a non-finite loss or gradient"):
        trainer.fit(minutes=None, progress=False)
    assert not RunDir(tmp_path).checkpoint.exists()


def test_guard_counts_and_resets() -> None:
    guard = NonFiniteGuard(limit=2)
    assert guard.ok(1.0, 2.0)
    assert not guard.ok(1.0, float("inf"))
    assert guard.ok(0.5)  # a good step resets the run of bad ones
    assert not guard.ok(float("nan"))
    with pytest.raises(TrainingError):
        guard.ok(float("nan"))
    assert guard.skipped == 3


def test_checkpoint_loads_with_weights_only_and_resumes_exactly(tmp_path: Path) -> None:
    audio = harmonic_tone(262.0, 1.5, sample_rate=SR)
    trainer = make_trainer(tmp_path, audio, steps=4, checkpoint_every=2)
    trainer.fit(minutes=None, progress=False)
    state = torch.load(RunDir(tmp_path).checkpoint, weights_only=True)
    assert state["train_state"]["step"] == 4
    # Resuming then training 2 more steps equals training 6 steps in one go.
    resumed = make_trainer(tmp_path, audio, steps=6, checkpoint_every=2)
    resumed.resume(RunDir(tmp_path).checkpoint)
    resumed.fit(minutes=None, progress=False)
    straight = make_trainer(tmp_path / "straight", audio, steps=6, checkpoint_every=2)
    straight.fit(minutes=None, progress=False)
    assert resumed.state.history["loss"] == pytest.approx(straight.state.history["loss"], rel=1e-4)
    assert load_checkpoint(RunDir(tmp_path).checkpoint)["train_state"]["step"] == 6


def test_mixed_precision_path_keeps_the_synth_in_float32() -> None:
    """The CUDA path runs the networks under bf16 autocast; exercised here with CPU autocast."""
    torch.manual_seed(0)
    model = DDSPAutoencoder(ModelConfig())
    f0 = torch.full((2, 20), 220.0)
    loud = torch.full((2, 20), -30.0)
    mfcc = torch.randn(2, 20, 30)
    full = model(f0, loud, mfcc, generator=torch.Generator().manual_seed(1))
    model.autocast_dtype = torch.bfloat16
    mixed = model(f0, loud, mfcc, generator=torch.Generator().manual_seed(1))
    assert mixed.audio.dtype == torch.float32
    assert not torch.equal(mixed.audio, full.audio)  # the networks really ran in bf16
    rel = (mixed.audio - full.audio).norm() / full.audio.norm()
    assert rel < 0.1


def test_cuda_request_without_a_gpu_is_named() -> None:
    from core.errors import ParameterError
    from trainer.distributed import pick_device

    if torch.cuda.is_available():
        assert pick_device("cuda").type == "cuda"
    else:
        assert pick_device("auto").type == "cpu"
        with pytest.raises(ParameterError, match="device='cuda' but torch sees no CUDA device"):
            pick_device("cuda")


def test_learned_reverb_is_trained() -> None:
    torch.manual_seed(0)
    model = DDSPAutoencoder(ModelConfig(reverb_seconds=0.1))
    assert model.reverb_ir is not None and model.reverb_ir.shape == (2400,)
    dry = DDSPAutoencoder(ModelConfig())
    dry.load_state_dict({k: v for k, v in model.state_dict().items() if k != "reverb_ir"})
    args = (torch.full((1, 30), 220.0), torch.full((1, 30), -30.0), torch.randn(1, 30, 30))
    wet_audio = model(*args, generator=torch.Generator().manual_seed(0)).audio
    dry_audio = dry(*args, generator=torch.Generator().manual_seed(0)).audio
    assert not torch.allclose(wet_audio, dry_audio)
    wet_audio.pow(2).sum().backward()
    assert model.reverb_ir.grad is not None and model.reverb_ir.grad[1:].abs().sum() > 0
