"""The dependency direction: the library never imports the CLI layer, and the light modules
(config models, registries, the CLI's own start-up) load none of the heavy dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "traitrl"
CLI_LAYER = ("traitrl.cli", "traitrl.commands")
# the CLI layer itself, and `python -m traitrl`, which only starts it
CLI_MODULES = ("traitrl.cli", "traitrl.commands", "traitrl.__main__")
HEAVY = ("torch", "transformers", "trl", "openai", "peft", "datasets")

# Library modules that still import the CLI layer, each to be moved onto the stage layer; an entry
# must leave this set as soon as its module stops importing `traitrl.cli` / `traitrl.commands`.
PENDING: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module the source of module `name` imports, at top level or inside functions, with
    relative imports resolved."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from traitrl import cli`
    return found


def in_layer(module: str, layer: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in layer)


def cli_imports() -> dict[str, list[str]]:
    """Library module -> the CLI-layer modules it imports."""
    out: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if in_layer(name, CLI_MODULES):
            continue
        imports = imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        bad = sorted(m for m in imports if in_layer(m, CLI_LAYER))
        if bad:
            out[name] = bad
    return out


def test_the_import_walk_sees_nested_and_relative_imports():
    code = ("from . import cli\nimport os\n\ndef f():\n    from traitrl.commands.common import X\n"
            "    from ..commands import train\n")
    found = imported_modules(code, "traitrl.train.probe")
    assert {"traitrl.train.cli", "traitrl.commands.common", "traitrl.commands.train", "os"} <= found
    assert "traitrl.commands" in imported_modules("from .commands import common\n", "traitrl", is_package=True)
    assert in_layer("traitrl.commands.train", CLI_LAYER) and not in_layer("traitrl.commandsx", CLI_LAYER)


def test_library_modules_never_import_the_cli_layer():
    found = cli_imports()
    new = {m: v for m, v in found.items() if m not in PENDING}
    assert not new, f"library modules import the CLI layer (traitrl.cli / traitrl.commands): {new}"
    fixed = sorted(set(PENDING) - set(found))
    assert not fixed, f"{fixed} no longer import the CLI layer: remove them from PENDING"


def loaded_heavy(module: str) -> list[str]:
    code = (f"import sys, {module}; heavy = {HEAVY!r}; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    return res.stdout.split()


@pytest.mark.parametrize("module", [
    "traitrl.config",  # and everything it imports, transitively
    "traitrl.cli",  # `traitrl --help` starts fast: commands load their libraries when they run
    "traitrl.train.arms",
    "traitrl.graders.registry",
    "traitrl.graders.judge_config",
    "traitrl.scenarios.record",
    "traitrl.evals.importers",
])
def test_light_modules_load_no_heavy_dependency(module):
    assert loaded_heavy(module) == []


def test_the_cli_starts_without_building_the_config_models():
    """`traitrl --help` imports typer and the command modules only; configs load when a command runs."""
    code = "import sys, traitrl.cli; print(' '.join(sorted(m for m in sys.modules if m in ('pydantic', 'traitrl.config'))))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent)
    assert res.stdout.split() == []


def test_stage_modules_never_import_the_stage_layer():
    """Arrows point down: CLI -> stages (traitrl.experiments) -> stage modules -> records/config.
    No stage module (train, evals, persistence, report, ...) imports the stage layer."""
    upper = ("traitrl.experiments", *CLI_LAYER)
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if in_layer(name, upper) or in_layer(name, CLI_MODULES):
            continue
        imports = imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        bad = sorted(m for m in imports if in_layer(m, ("traitrl.experiments",)))
        if bad:
            found[name] = bad
    assert not found, f"stage modules import the stage layer: {found}"
