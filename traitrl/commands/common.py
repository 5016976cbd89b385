"""Options and helpers shared by the command modules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from traitrl.errors import UserError

if TYPE_CHECKING:  # the config models load when a command runs, not for --help
    from traitrl.config import Config

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file (default: the embedded defaults).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config value: dotted.key=value (repeatable).")]



def resolve_config(config: Path | None, overrides: list[str] | None, model_dir: Path | None = None) -> Config:
    """The config to use: --config if given, else the one saved with the model, else defaults."""
    from traitrl.config import MODEL_CONFIG, load_config

    if config is None and model_dir is not None and (model_dir / MODEL_CONFIG).is_file():
        config = model_dir / MODEL_CONFIG
    return load_config(config, overrides or [])


def require_model_dir(path: Path) -> Path:
    if not path.is_dir():
        raise UserError(f"{path}: model folder not found")
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: not a Hugging Face model folder (no config.json)")
    return path
