"""Options and output helpers shared by every ``gridcast`` sub-command."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from core.config import ConfigError, Settings, load_settings
from models.db import UPGRADE_HINT, DatabaseError, make_engine, require_current_schema

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


@contextmanager
def open_database(settings: Settings) -> Iterator[Engine]:
    """The deployment's database for one command; refuses an out-of-date schema."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            try:
                require_current_schema(connection, upgrade_hint=UPGRADE_HINT)
            except DatabaseError as exc:
                raise click.ClickException(str(exc)) from None
        yield engine
    finally:
        engine.dispose()


def system_url(settings: Settings, url: str | None) -> str:
    """``--url`` of a running system, or the one config.yaml's web settings give."""
    if url:
        return url.rstrip("/")
    host = "127.0.0.1" if settings.web.host in ("0.0.0.0", "::") else settings.web.host
    return f"http://{host}:{settings.web.port}"


async def http_json(method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
    """One JSON request to a running system; its refusal becomes a ClickException."""
    import aiohttp  # here: the commands that read the database alone start without it

    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url, json=payload) as response,
        ):
            body = await response.json(content_type=None)
            if response.status >= 400:
                problems = "".join(f"\n  - {p}" for p in body.get("problems", []))
                raise click.ClickException(f"{body.get('error', response.reason)}{problems}")
            return body
    except aiohttp.ClientError as exc:
        raise click.ClickException(f"连不上 {url}（gridcast run 是否在运行？）：{exc}") from None
