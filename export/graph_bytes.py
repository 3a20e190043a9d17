"""A torch module as the bytes of an ONNX file: the graphs the artifact embeds in its metadata
(the timbre encoder, the texture NCA's step and read-out), all at one opset."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17


def graph_bytes(
    graph: nn.Module,
    example: tuple[torch.Tensor, ...],
    *,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    dynamic_axes: dict[str, dict[int, str]],
) -> bytes:
    """Trace `graph` on `example` (TorchScript exporter) and return the ONNX file's bytes."""
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(), torch.no_grad():
        path = Path(scratch) / "graph.onnx"
        warnings.simplefilter("ignore")  # the exporter's notes on GRU batch sizes and folding
        torch.onnx.export(
            graph,
            example,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
        return path.read_bytes()
