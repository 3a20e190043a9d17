"""The package layers, read from the source: core <- trainer <- export, core <- realtime, and
realtime reads only export.contract of export. Every import counts, function-level ones too, so
that a performer's machine (pip install timbre-grower[live]) never needs torch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> module prefixes it must never import (a prefix matches itself and its submodules)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("torch", "torchcrepe", "onnx", "onnxruntime", "trainer", "export", "realtime"),
    "trainer": ("export", "realtime"),
    "export": ("realtime",),
    "realtime": ("torch", "torchcrepe", "onnx", "trainer", "export"),
}
# exceptions to FORBIDDEN, by package: what the rule above would catch but is allowed
ALLOWED: dict[str, tuple[str, ...]] = {"realtime": ("export.contract",)}
# export.contract is what realtime reads of export: it may import only the standard library
# and core, whatever export's other modules need.
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


def violations(package: str, source: str, name: str) -> list[str]:
    """The imports in `source` (a module of `package`, called `name`) that break the layers."""
    bad = []
    for line, module in imported_modules(source):
        if module.startswith("."):
            bad.append(f"{name}:{line} relative import {module}")
            continue
        forbidden = any(matches(module, p) for p in FORBIDDEN[package])
        allowed = any(matches(module, p) for p in ALLOWED.get(package, ()))
        if forbidden and not allowed:
            bad.append(f"{name}:{line} imports {module}")
    return bad


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_across_its_layer(package: str) -> None:
    files = modules_of(package)
    assert files, f"no modules found in {package}/"
    bad = [
        v
        for path in files
        for v in violations(package, path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert bad == [], "\n".join(bad)


def test_the_contract_imports_only_the_standard_library_and_core() -> None:
    import sys

    path = ROOT / "export" / "contract.py"
    outside = [
        f"contract.py:{line} imports {module}"
        for line, module in imported_modules(path.read_text())
        if module.split(".")[0] not in sys.stdlib_module_names
        and module != "__future__"
        and not module.startswith("__future__.")
        and not any(matches(module, p) for p in CONTRACT_MAY_IMPORT)
    ]
    assert outside == [], "\n".join(outside)


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("core", "def f():\n    import torch\n", "x.py:2 imports torch"),
        ("realtime", "from trainer.models import ddsp\n", "x.py:1 imports trainer.models.ddsp"),
        ("realtime", "from export import onnx_export\n", "x.py:1 imports export.onnx_export"),
        ("trainer", "if 1:\n    from export.cli import main\n", "x.py:2 imports export.cli.main"),
        ("core", "from . import errors\n", "x.py:1 relative import ."),
    ],
)
def test_the_checker_finds_a_crossing(package: str, source: str, expected: str) -> None:
    assert expected in violations(package, source, "x.py")


def test_the_checker_lets_realtime_read_the_contract() -> None:
    source = "from export.contract import ArtifactMetadata\nfrom export import contract\n"
    assert violations("realtime", source, "x.py") == []
