"""Training: features, data, DDSP model, losses and the training loop (PyTorch lives only here)."""
