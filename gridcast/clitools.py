"""Options and output helpers shared by every ``gridcast`` sub-command."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gridcast.config import ConfigError, Settings, load_settings

R = TypeVar("R")


def _load(config: Path | None, data_dir: Path | None) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir)
    except ConfigError as exc:
        raise click.ClickException(f"配置错误 (config error): {exc}") from None


def with_settings(func: Callable[..., R]) -> Callable[..., R]:
    """Add ``--config`` / ``--data-dir`` and pass the loaded :class:`Settings` as ``settings``."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="GRIDCAST_CONFIG",
        help="config.yaml of the deployment (default: ./config.yaml if present, else built-in defaults).",
    )
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="GRIDCAST_DATA_DIR",
        help="Data directory (overrides data_dir in the config).",
    )
    @functools.wraps(func)
    def wrapper(config_path: Path | None, data_dir: Path | None, **kwargs: Any) -> R:
        return func(settings=_load(config_path, data_dir), **kwargs)

    return wrapper


def echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
