"""Real-time engine: numpy + onnxruntime only. Never imports torch or trainer/."""
