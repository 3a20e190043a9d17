"""What the two automaton phases share: a sample pool, its checkpoint and the budgeted loop.

A subclass (the harmonic NCA's and the texture NCA's trainer) sets `name` (the checkpoint's keys
and the progress bar's label) and writes `train_step`; this base keeps the pool of grown states
and their last losses, the optimizer with its exponential learning-rate decay, the random streams,
and saves and resumes all of them exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from core.errors import ParameterError
from core.version import __version__
from trainer.checkpoint import load_checkpoint, load_weights, save_checkpoint
from trainer.guard import NonFiniteGuard
from trainer.progress import Progress
from trainer.step_loop import BudgetedSteps, LoopState


class PoolSettings(Protocol):
    """The fields both phases' training settings have (NCATrainConfig, TextureTrainConfig),
    read-only as in their frozen dataclasses."""

    @property
    def steps(self) -> int: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def pool_size(self) -> int: ...

    @property
    def min_grow_steps(self) -> int: ...

    @property
    def max_grow_steps(self) -> int: ...

    @property
    def damaged_per_batch(self) -> int: ...

    @property
    def learning_rate(self) -> float: ...

    @property
    def lr_decay_rate(self) -> float: ...

    @property
    def lr_decay_steps(self) -> int: ...

    @property
    def grad_clip(self) -> float: ...

    @property
    def checkpoint_every(self) -> int: ...

    @property
    def seed(self) -> int: ...


def check_pool_settings(config: PoolSettings) -> None:
    """ParameterError naming the first setting that makes no training."""
    if not 1 <= config.min_grow_steps <= config.max_grow_steps:
        raise ParameterError(
            f"grow steps {config.min_grow_steps}..{config.max_grow_steps} must be an increasing "
            "range of at least 1"
        )
    if config.pool_size < config.batch_size:
        raise ParameterError(
            f"pool_size={config.pool_size} must be at least batch_size={config.batch_size}"
        )
    if not 0 <= config.damaged_per_batch < config.batch_size:
        raise ParameterError(
            f"damaged_per_batch={config.damaged_per_batch} must be below batch_size"
        )
    for name in ("steps", "checkpoint_every", "lr_decay_steps"):
        if getattr(config, name) < 1:
            raise ParameterError(f"{name}={getattr(config, name)} must be at least 1")


class PoolTrainer:
    """Adam on `module` with lr * decay_rate ** (step / decay_steps); a pool of states."""

    name = "pool"

    def __init__(
        self,
        module: nn.Module,
        module_config: dict[str, Any],
        pool: torch.Tensor,
        checkpoint: Path,
        config: PoolSettings,
        *,
        stream: int,
        log: Any,
    ) -> None:
        """module_config: the module's settings as stored in the checkpoint; pool: [pool size,
        ...] the initial states (seeds); stream: the phase's own random streams, numpy's (data,
        damage) keyed by (seed, stream) and torch's (fire masks) by the seed."""
        self.module = module
        self.module_config = module_config
        self.pool = pool.detach()
        self.pool_loss = np.full(pool.shape[0], np.inf)
        self.checkpoint = checkpoint
        self.settings = config
        self.rng = np.random.default_rng([config.seed, stream])
        self.generator = torch.Generator().manual_seed(config.seed)
        self.log = log
        self.state = LoopState()
        self.optimizer = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
        decay, every = config.lr_decay_rate, config.lr_decay_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: decay ** (s / every)
        )
        self._saved_step = -1

    def train_step(self, guard: NonFiniteGuard) -> float:
        raise NotImplementedError

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        return {
            self.name: self.module.state_dict(),
            f"{self.name}_config": self.module_config,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "train_state": dataclasses.asdict(self.state),
            "pool": self.pool.cpu(),
            "pool_loss": torch.from_numpy(self.pool_loss),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "version": __version__,
        }

    def save(self) -> None:
        save_checkpoint(self.checkpoint, self.checkpoint_state())
        self._saved_step = self.state.step

    def resume(self) -> None:
        state = load_checkpoint(self.checkpoint)
        load_weights(self.module, state, self.name, self.checkpoint)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.state = LoopState(**state["train_state"])
        self.pool = state["pool"].to(self.pool.device)
        self.pool_loss = state["pool_loss"].numpy().copy()
        self.rng.bit_generator.state = state["numpy_rng"]
        self.generator.set_state(state["torch_generator"])
        torch.set_rng_state(state["torch_rng"])
        self._saved_step = self.state.step

    def keep(self, index: np.ndarray, states: torch.Tensor, losses: torch.Tensor) -> None:
        """Put a trained batch back into the pool at `index`, with its per-item losses."""
        self.pool[torch.from_numpy(index).to(self.pool.device)] = states.detach()
        self.pool_loss[index] = losses.detach().cpu().numpy()

    # -- the loop ------------------------------------------------------------------------------
    def fit(self, *, minutes: float | None, progress: bool) -> str:
        """Train until the step or time budget or a stop signal; 'steps', 'minutes' or 'signal'."""
        steps = self.settings.steps
        guard = NonFiniteGuard(skipped=self.state.skipped_steps)
        loop = BudgetedSteps(steps=steps, minutes=minutes)
        bar = Progress(
            self.name,
            total_steps=steps,
            initial_step=self.state.step,
            minutes=minutes,
            enabled=progress,
        )
        for loss in loop.run(self.state, self.train_step, guard):
            bar.update(self.state.step, loss=f"{loss:.3f}")
            if self.state.step % self.settings.checkpoint_every == 0:
                self.save()
                self.log(f"{self.name}: step {self.state.step}: loss {loss:.4f}")
        bar.close()
        if self.state.step != self._saved_step:
            self.save()
        return loop.reason

    def summary(self, reason: str) -> dict[str, Any]:
        """The run's figures for the phase's metrics file."""
        state = self.state
        recent = state.history["loss"][-20:]
        return {
            "steps": state.step,
            "stopped_by": reason,
            "train_wall_seconds": state.train_seconds,
            "skipped_steps": state.skipped_steps,
            "parameters": sum(p.numel() for p in self.module.parameters() if p.requires_grad),
            "final_train_loss": float(sum(recent) / max(1, len(recent))),
        }

    def optimize(self, loss: torch.Tensor, guard: NonFiniteGuard) -> float:
        """Backpropagate `loss`, clip, and step unless the loss or gradient is not finite
        (then NaN: the step does not count)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.settings.grad_clip)
        loss_value = float(loss.detach())
        if not guard.ok(loss_value, float(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            return float("nan")
        self.optimizer.step()
        self.scheduler.step()
        return loss_value
