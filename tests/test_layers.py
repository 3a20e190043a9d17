"""The package layers, read from the source: core <- trainer <- export, core <- realtime, and
realtime reads only export.contract of export. Every import counts, function-level ones too, so
that a performer's machine (pip install timbre-grower[live]) never needs torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FIRST_PARTY = ("core", "trainer", "export", "realtime", "bench", "tests")
# package -> the project's packages it may import (plus single modules, by full name)
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "core": ("core",),
    "trainer": ("core", "trainer"),
    "export": ("core", "trainer", "export"),
    "realtime": ("core", "realtime", "export.contract"),
}
# package -> the third-party packages it may import (None: any; the standard library always)
THIRD_PARTY: dict[str, tuple[str, ...] | None] = {
    "core": ("numpy", "soundfile", "librosa"),
    "trainer": None,
    "export": None,
    "realtime": (
        "numpy",
        "soundfile",
        "numba",
        "onnxruntime",
        "sounddevice",
        "jack",
        "pythonosc",
        "mido",
        "matplotlib",
    ),
}
# What realtime reads of export runs export/__init__.py too: both may import only the standard
# library and core, whatever export's other modules need.
CONTRACT_FILES = ("export/__init__.py", "export/contract.py")
CONTRACT_MAY_IMPORT = ("core",)


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import statement in `source`, at any depth; `from a import b`
    reads as a.b, so that `from export import contract` is export.contract."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports would hide the layer
                found.append((node.lineno, "." * node.level + (node.module or "")))
                continue
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def is_standard(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == "__future__"


def violations(package: str, source: str, name: str) -> list[str]:
    """The imports in `source` (a module of `package`, called `name`) that break the layers."""
    bad = []
    for line, module in imported_modules(source):
        if module.startswith("."):
            bad.append(f"{name}:{line} relative import {module}")
            continue
        top = module.split(".")[0]
        if is_standard(module):
            continue
        if top in FIRST_PARTY:
            allowed = any(matches(module, p) for p in MAY_IMPORT[package])
        else:
            third = THIRD_PARTY[package]
            allowed = third is None or top in third
        if not allowed:
            bad.append(f"{name}:{line} imports {module}")
    return bad


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_package_imports_across_its_layer(package: str) -> None:
    files = modules_of(package)
    assert files, f"no modules found in {package}/"
    bad = [
        v
        for path in files
        for v in violations(package, path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert bad == [], "\n".join(bad)


def test_what_realtime_reads_of_export_imports_only_the_standard_library_and_core() -> None:
    outside = [
        f"{name}:{line} imports {module}"
        for name in CONTRACT_FILES
        for line, module in imported_modules((ROOT / name).read_text())
        if not is_standard(module) and not any(matches(module, p) for p in CONTRACT_MAY_IMPORT)
    ]
    assert outside == [], "\n".join(outside)


def test_every_realtime_module_imports_without_torch() -> None:
    """What the AST cannot see (an import by name, a dependency that pulls torch in): every
    realtime module imports with torch made unimportable."""
    names = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in modules_of("realtime")
        if path.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        "for blocked in ('torch', 'trainer', 'torchcrepe', 'onnx'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("core", "def f():\n    import torch\n", "x.py:2 imports torch"),
        ("realtime", "from trainer.models import ddsp\n", "x.py:1 imports trainer.models.ddsp"),
        ("realtime", "from export import onnx_export\n", "x.py:1 imports export.onnx_export"),
        ("trainer", "if 1:\n    from export.cli import main\n", "x.py:2 imports export.cli.main"),
        ("core", "from . import errors\n", "x.py:1 relative import ."),
        ("core", "import scipy.signal\n", "x.py:1 imports scipy.signal"),
        ("realtime", "import torchaudio\n", "x.py:1 imports torchaudio"),
    ],
)
def test_the_checker_finds_a_crossing(package: str, source: str, expected: str) -> None:
    assert expected in violations(package, source, "x.py")


def test_the_checker_lets_realtime_read_the_contract() -> None:
    source = "from export.contract import ArtifactMetadata\nfrom export import contract\n"
    assert violations("realtime", source, "x.py") == []
