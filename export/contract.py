"""The artifact contract: one ONNX file, its inputs and outputs, and its metadata JSON.

Read by `realtime/` (which must not import torch or trainer/), so this module imports only the
standard library. See ../shared/ARCHITECTURE.md, "The artifact".
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import GrowError

FORMAT_VERSION = 3
# Version 3: the graph has a batch axis (one call for every sounding voice) and also outputs the
# unmasked amplitudes. Versions 1 and 2 (batch 1, five outputs) still load and play one call per
# voice. Version 1 (no feature settings, no trained range, no encoder): the missing settings are
# those every version-1 run used, and nothing limits its harmonics.
READABLE_VERSIONS = (1, 2, 3)
V1_FEATURE_DEFAULTS = {"n_mfcc": 30, "loudness_floor_db": -100.0}
METADATA_KEY = "timbre_grower"

INPUT_NAMES = ("f0_hz", "loudness_db", "z", "gru_state", "nca_state", "nca_step", "nca_fire")
OUTPUT_NAMES = (
    "harmonic_amps",
    "noise_mags",
    "mask",
    "gru_state_out",
    "nca_state_out",
    "harmonic_amps_full",
)
BATCHED_VERSION = 3  # from this format version on: batch axis and harmonic_amps_full
BATCH_AXIS = "voices"  # the name of the batch dimension in the ONNX graph


class ArtifactError(GrowError, ValueError):
    """The file is not a Timbre Grower artifact this version can play; the message says why."""


@dataclass(frozen=True)
class ArtifactMetadata:
    """Everything the engine needs besides the graph (stored as JSON under METADATA_KEY)."""

    format_version: int
    sample_rate: int  # training rate, Hz (band layout and f0 range refer to it)
    hop: int  # samples per control frame at the training rate
    n_harmonics: int  # K
    n_noise_bands: int  # B, evenly spaced from 0 Hz to the training Nyquist
    z_dim: int  # Z
    gru_layers: int  # L
    gru_hidden: int  # H
    nca_channels: int  # C
    nca_fire_rate: float
    nca_seed_harmonics: int
    loudness_mean: float  # dB, the decoder's input normalisation
    loudness_std: float  # dB
    f0_min_hz: float
    f0_max_hz: float
    f0_tracker: str
    presets: dict[str, list[float]]  # timbre presets: name -> z [Z]
    nca_seed_state: list[list[float]]  # [C][K]
    reverb_ir: list[float] | None = None  # at the training rate, or None
    band_layout: str = "linear"
    # Version 2: every feature setting of the run (core.features.FeatureConfig's fields), so
    # resynthesis extracts exactly what training saw.
    features: dict[str, Any] = field(default_factory=dict)
    trained_f0_hz: list[float] = field(
        default_factory=lambda: [0.0, 0.0]
    )  # [low, high]; 0 = unknown
    trained_harmonics: int = 0  # harmonics above it never sound (0 = unknown: all K)
    # dB: below this loudness the graph plays the timbre at it, with the level following the
    # input dB for dB (None = unknown: the decoder sees any loudness)
    trained_loudness_low_db: float | None = None
    encoder_onnx: str = ""  # base64 ONNX graph mfcc [1, T, n_mfcc] -> z [1, Z]; "" = none
    # The texture NCA (TextureSpec's fields; {} = the run has none). Optional in every format
    # version: a reader that does not know it plays the model without its texture.
    texture: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    package_version: str = ""

    @property
    def frame_rate(self) -> float:
        """Control frames per second."""
        return self.sample_rate / self.hop

    def in_trained_range(self, f0_hz: float) -> bool:
        """Whether a pitch lies in the range the model was trained on (True when unknown)."""
        low, high = self.trained_f0_hz
        return low <= 0 or low <= f0_hz <= high

    @property
    def batched(self) -> bool:
        """The graph takes any number of voices at once and outputs harmonic_amps_full."""
        return self.format_version >= BATCHED_VERSION

    def input_shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        """Shapes of the graph's inputs for `batch` voices (1 for a version 1-2 graph)."""
        return {
            "f0_hz": (batch, 1),
            "loudness_db": (batch, 1),
            "z": (batch, self.z_dim),
            "gru_state": (self.gru_layers, batch, self.gru_hidden),
            "nca_state": (batch, self.nca_channels, self.n_harmonics),
            "nca_step": (batch,),
            "nca_fire": (batch, 1, self.n_harmonics),
        }

    def output_shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        """Shapes of the graph's outputs for `batch` voices (a version 1-2 graph has the first
        five, batch 1)."""
        shapes = {
            "harmonic_amps": (batch, self.n_harmonics),
            "noise_mags": (batch, self.n_noise_bands),
            "mask": (batch, self.n_harmonics),
            "gru_state_out": (self.gru_layers, batch, self.gru_hidden),
            "nca_state_out": (batch, self.nca_channels, self.n_harmonics),
            "harmonic_amps_full": (batch, self.n_harmonics),
        }
        if not self.batched:
            del shapes["harmonic_amps_full"]
        return shapes

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ArtifactMetadata:
        """Parse and check; ArtifactError naming the problem otherwise."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ArtifactError(f"metadata '{METADATA_KEY}' is not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ArtifactError(f"metadata '{METADATA_KEY}' must be a JSON object")
        version = data.get("format_version")
        if version not in READABLE_VERSIONS:
            raise ArtifactError(
                f"artifact format version {version!r} is not supported: this Timbre Grower reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))} (re-export the run with a "
                "matching grow-export)"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - data.keys())
        if missing:
            raise ArtifactError(f"metadata lacks {', '.join(missing)}")
        if version == 1:
            data = {**data, "features": _v1_features(data)}
        meta = cls(**{k: v for k, v in data.items() if k in names})
        meta.check()
        return meta

    def check(self) -> None:
        """Internal consistency of the sizes; ArtifactError naming the first problem."""
        sizes = (
            "sample_rate",
            "hop",
            "n_harmonics",
            "n_noise_bands",
            "z_dim",
            "gru_layers",
            "gru_hidden",
            "nca_channels",
            "nca_seed_harmonics",
        )
        for name in sizes:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ArtifactError(f"metadata {name}={value!r} must be a positive integer")
        for name, z in self.presets.items():
            if len(z) != self.z_dim:
                raise ArtifactError(f"preset {name!r} has {len(z)} values, z_dim is {self.z_dim}")
        if not self.presets:
            raise ArtifactError("metadata holds no timbre presets")
        if not self.features:
            raise ArtifactError("metadata lacks the feature settings ('features')")
        if not 0 <= self.trained_harmonics <= self.n_harmonics:
            raise ArtifactError(
                f"trained_harmonics={self.trained_harmonics} must be in 0..{self.n_harmonics}"
            )
        low = self.trained_loudness_low_db
        if low is not None and not (isinstance(low, (int, float)) and -200.0 <= low <= 20.0):
            raise ArtifactError(f"trained_loudness_low_db={low!r} must be a number of dB or null")
        rows = self.nca_seed_state
        if len(rows) != self.nca_channels or any(len(r) != self.n_harmonics for r in rows):
            raise ArtifactError(f"nca_seed_state must be [{self.nca_channels}][{self.n_harmonics}]")
        if self.texture:
            TextureSpec.of(self)


TEXTURE_STEP_INPUTS = ("texture_state", "texture_fire")  # [1, C, T, F], [1, 1, T, F]
TEXTURE_STEP_OUTPUTS = ("texture_state_out",)  # [1, C, T, F]
TEXTURE_CONTROLS_INPUTS = ("texture_level", "f0_hz", "loudness_db")  # [N, F], [N, 1], [N, 1]
TEXTURE_CONTROLS_OUTPUTS = ("harmonic_amps", "noise_mags")  # [N, K], [N, B]


@dataclass(frozen=True)
class TextureSpec:
    """The artifact's texture NCA (metadata key "texture"): a grid of `frames` texture frames by
    F = K' + 1 + B' cells (harmonics, a dead wall cell, the noise envelope) and C channels,
    looping over frames * frame_stride control frames. Two base64 ONNX graphs:

    - step_onnx: one NCA step, texture_state [1, C, T, F] and texture_fire [1, 1, T, F] (0/1,
      drawn by the engine) -> texture_state_out;
    - controls_onnx: the read-out at one control frame, texture_level [N, F] (channel 0, clamped
      at 0, interpolated between the two texture frames around the loop position), f0_hz and
      loudness_db [N, 1] -> harmonic_amps [N, K] and noise_mags [N, B] at that loudness.
    """

    channels: int
    frames: int
    frame_stride: int
    fire_rate: float
    steps: int  # the steps its training grew (96 by default)
    harmonic_cells: int  # K' <= K: harmonics 1..K' (the rest stay silent)
    noise_cells: int  # B' <= B: the noise envelope's points, spread onto the B bands
    seed_cells: list[list[float]]  # [C][F]: every frame of the seed
    step_onnx: str
    controls_onnx: str
    metrics: dict[str, Any] = field(default_factory=dict)  # from texture_metrics.json

    @property
    def width(self) -> int:
        return self.harmonic_cells + 1 + self.noise_cells

    @property
    def control_frames(self) -> int:
        return self.frames * self.frame_stride

    @classmethod
    def of(cls, meta: ArtifactMetadata) -> TextureSpec:
        """The texture of `meta` (which must have one), checked; ArtifactError otherwise."""
        data = meta.texture
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(n for n in names - data.keys() if n != "metrics")
        if missing:
            raise ArtifactError(f"metadata texture lacks {', '.join(missing)}")
        spec = cls(**{k: v for k, v in data.items() if k in names})
        for name in (
            "channels",
            "frames",
            "frame_stride",
            "steps",
            "harmonic_cells",
            "noise_cells",
        ):
            value = getattr(spec, name)
            if not isinstance(value, int) or value < 1:
                raise ArtifactError(f"metadata texture {name}={value!r} must be a positive integer")
        if spec.harmonic_cells > meta.n_harmonics or spec.noise_cells > meta.n_noise_bands:
            raise ArtifactError(
                f"metadata texture has {spec.harmonic_cells} harmonic and {spec.noise_cells} "
                f"noise cells for a synth of {meta.n_harmonics} and {meta.n_noise_bands}"
            )
        cells, width = spec.seed_cells, spec.width
        if len(cells) != spec.channels or any(len(row) != width for row in cells):
            raise ArtifactError(f"metadata texture seed_cells must be [{spec.channels}][{width}]")
        if not (spec.step_onnx and spec.controls_onnx):
            raise ArtifactError("metadata texture lacks its graphs")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _v1_features(data: dict[str, Any]) -> dict[str, Any]:
    """The feature settings of a version-1 artifact: its own fields plus the fixed ones."""
    return {
        "sample_rate": data.get("sample_rate"),
        "hop": data.get("hop"),
        "f0_tracker": data.get("f0_tracker"),
        "f0_min_hz": data.get("f0_min_hz"),
        "f0_max_hz": data.get("f0_max_hz"),
        **V1_FEATURE_DEFAULTS,
    }
