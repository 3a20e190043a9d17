"""Load an artifact for playing: an onnxruntime session plus its checked metadata.

Every check happens here, before any audio device is opened: the file exists, is ONNX, carries
Timbre Grower metadata of a known version, and its graph has the contract's inputs and outputs
with the shapes the metadata implies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import check_input_file
from export.contract import METADATA_KEY, ArtifactError, ArtifactMetadata

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass
class LoadedModel:
    session: Any  # onnxruntime.InferenceSession
    meta: ArtifactMetadata
    path: Path


def _check_io(session: Any, meta: ArtifactMetadata, path: Path) -> None:
    """The graph's inputs and outputs are the contract's, with the shapes the metadata implies
    (a named dimension, the batch axis of a version-3 graph, matches any size)."""
    for kind, nodes, shapes in (
        ("input", session.get_inputs(), meta.input_shapes()),
        ("output", session.get_outputs(), meta.output_shapes()),
    ):
        found = {node.name: node for node in nodes}
        missing = [name for name in shapes if name not in found]
        if missing:
            raise ArtifactError(f"{path}: graph lacks {kind}s {', '.join(missing)}")
        for name, expected in shapes.items():
            declared = tuple(found[name].shape)
            fixed = [(d, e) for d, e in zip(declared, expected, strict=False) if isinstance(d, int)]
            batch = declared[1 if name.startswith("gru_state") else 0] if declared else None
            if meta.batched and isinstance(batch, int):
                raise ArtifactError(
                    f"{path}: {kind} {name} has a fixed batch of {batch}; a format-"
                    f"{meta.format_version} graph takes any number of voices (re-export it)"
                )
            if len(declared) != len(expected) or any(d != e for d, e in fixed):
                raise ArtifactError(
                    f"{path}: {kind} {name} has shape {list(declared)}, the metadata implies "
                    f"{list(expected)}"
                )


def load_model(path: str | Path, *, provider: str = "cpu") -> LoadedModel:
    """Open `path` with onnxruntime (one intra-op thread, sequential). ArtifactError if unusable."""
    import onnxruntime as ort

    path = Path(path)
    if provider not in PROVIDERS:
        raise ArtifactError(f"provider={provider!r} must be one of {', '.join(PROVIDERS)}")
    if path.is_dir():
        hint = (
            f"a grow-train run: export it first (grow-export {path} --out model.onnx)"
            if (path / "config.json").is_file()
            else "give the .onnx file written by grow-export"
        )
        raise ArtifactError(f"{path} is a folder, not a model; {hint}")
    check_input_file(path, ArtifactError)
    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        raise ArtifactError(
            f"{path} is a PyTorch checkpoint, not a playable model: export its run with "
            "grow-export RUN_DIR --out model.onnx"
        )
    if PROVIDERS[provider] not in ort.get_available_providers():
        raise ArtifactError(
            f"provider {provider!r} is not available in this onnxruntime "
            f"({', '.join(ort.get_available_providers())}); install onnxruntime-gpu for cuda"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=[PROVIDERS[provider]])
    except Exception:  # onnxruntime raises its own exception types (protobuf parse errors)
        raise ArtifactError(
            f"{path} is not an ONNX model (onnxruntime cannot read it); play a file written by "
            "grow-export"
        ) from None
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ArtifactError(
            f"{path}: an ONNX model, but not a Timbre Grower artifact (no '{METADATA_KEY}' "
            "metadata); export one with grow-export"
        )
    try:
        meta = ArtifactMetadata.from_json(props[METADATA_KEY])
    except ArtifactError as err:
        raise ArtifactError(f"{path}: {err}") from None
    _check_io(session, meta, path)
    return LoadedModel(session=session, meta=meta, path=path)


def embedded_session(encoded: str, name: str) -> Any:
    """An onnxruntime session (CPU, one thread) of a graph the artifact's metadata carries as
    base64 text (the timbre encoder, the texture NCA's graphs). ArtifactError naming `name` if
    the text or the graph is corrupt."""
    import base64

    import onnxruntime as ort

    try:
        graph = base64.b64decode(encoded, validate=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # a corrupt base64 string or graph
        raise ArtifactError(f"the model's {name} cannot be loaded ({err})") from None
