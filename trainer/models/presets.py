"""Model choices by name: decoder sizes (`seed` is the seeds' 2 x 512 GRU; `tiny` stays under
0.5 M parameters) and what sets the output level."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ParameterError


@dataclass(frozen=True)
class DecoderSize:
    mlp_width: int  # width of the input and output MLPs
    gru_hidden: int  # GRU hidden size H
    gru_layers: int  # GRU layers L


PRESETS: dict[str, DecoderSize] = {
    "tiny": DecoderSize(mlp_width=128, gru_hidden=192, gru_layers=1),
    "small": DecoderSize(mlp_width=256, gru_hidden=384, gru_layers=1),
    "seed": DecoderSize(mlp_width=512, gru_hidden=512, gru_layers=2),
}


# What sets a model's output level (ModelConfig.level): "loudness", the loudness input frame by
# frame (trainer/level.py); "learned", the decoder's amplitude head, as in DDSP.
LEVEL_MODES = ("loudness", "learned")


def decoder_size(name: str) -> DecoderSize:
    """The preset called `name`; ParameterError naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(f"preset={name!r} must be one of {', '.join(PRESETS)}") from None
