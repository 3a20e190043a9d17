"""Fixtures of the realtime tests: the shipped demo model, loaded once per session."""

from __future__ import annotations

import pytest

from realtime.model import LoadedModel, load_model
from realtime.render_cli import demo_model_path


@pytest.fixture(scope="session")
def demo() -> LoadedModel:
    return load_model(demo_model_path())
