"""Training: features, data, DDSP model, losses and the training loop (PyTorch lives only here)."""

__version__ = "0.1.0"
