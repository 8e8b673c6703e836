"""Options and output helpers shared by every ``gridcast`` sub-command."""

from __future__ import annotations

import functools
import getpass
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from core.config import ConfigError, Settings, load_settings
from core.policy import ADMIN_ROLE, Post, Principal
from models.db import UPGRADE_HINT, DatabaseError, make_engine, require_current_schema
from orgtree.principals import LOCAL_ADMIN_TOKEN_FILE

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


def cli_principal() -> Principal:
    """Who acts when a command changes the database directly: the local admin of this
    server, named by the operating-system user and host (for the audit trail)."""
    user = getpass.getuser()
    host = socket.gethostname()
    return Principal(
        kind="local", id=f"{user}@{host}", name=f"命令行 {user}@{host}", posts=(Post(ADMIN_ROLE),)
    )


def api_token(settings: Settings, token: str | None) -> str | None:
    """The token a command sends to a running system: ``--token``, ``GRIDCAST_TOKEN``, or
    the local admin token ``gridcast setup`` wrote into the data directory."""
    if token:
        return token
    path = settings.data_dir / LOCAL_ADMIN_TOKEN_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def with_token(func: Callable[..., R]) -> Callable[..., R]:
    """Add ``--token`` (also ``GRIDCAST_TOKEN``) for commands that act on a running system."""
    return click.option(
        "--token",
        envvar="GRIDCAST_TOKEN",
        default=None,
        help="API token for the running system (default: DATA_DIR/admin.token from gridcast setup).",
    )(func)


async def http_json(
    method: str, url: str, payload: dict[str, Any] | None = None, *, token: str | None = None
) -> Any:
    """One JSON request to a running system; its refusal becomes a ClickException."""
    import aiohttp  # here: the commands that read the database alone start without it

    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url, json=payload, headers=headers) as response,
        ):
            body = await response.json(content_type=None)
            if response.status >= 400:
                problems = "".join(f"\n  - {p}" for p in body.get("problems", []))
                message = body.get("message") or body.get("error") or response.reason
                raise click.ClickException(f"{message}{problems}")
            return body
    except aiohttp.ClientError as exc:
        raise click.ClickException(f"连不上 {url}（gridcast run 是否在运行？）：{exc}") from None
