"""The wechaty conventions: WECHATY_PUPPET_SERVICE_TOKEN/ENDPOINT make a single-account
deployment; TLS to a puppet service that offers it."""

from __future__ import annotations

import ssl
from types import SimpleNamespace

import pytest

from core.config import ConfigError, parse_settings

ENV = {
    "WECHATY_PUPPET_SERVICE_TOKEN": "puppet_padlocal_secret",
    "WECHATY_PUPPET_SERVICE_ENDPOINT": "10.0.0.5:8788",
}


def test_token_and_endpoint_make_one_account_without_sandbox() -> None:
    settings = parse_settings({}, env=ENV)
    (account,) = settings.account_settings()
    assert (account.id, account.endpoint, account.tls) == ("wechaty", "10.0.0.5:8788", False)
    assert account.token.get_secret_value() == "puppet_padlocal_secret"
    assert "puppet_padlocal_secret" not in str(settings.model_dump())
    assert settings.sandbox.enabled is False


def test_configured_accounts_win_and_an_endpoint_is_required() -> None:
    raw = {"bots": {"accounts": [{"id": "a1", "endpoint": "h:1", "token": "t"}]}}
    assert [a.id for a in parse_settings(raw, env=ENV).account_settings()] == ["a1"]
    with pytest.raises(ConfigError, match="WECHATY_PUPPET_SERVICE_ENDPOINT"):
        parse_settings({}, env={"WECHATY_PUPPET_SERVICE_TOKEN": "x"})


def test_tls_from_the_environment(tmp_path: object) -> None:
    env = {**ENV, "WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME": "wechaty-puppet-service"}
    (account,) = parse_settings({}, env=env).account_settings()
    assert account.tls and account.tls_server_name == "wechaty-puppet-service"


async def test_the_transport_builds_its_channel_with_the_tls_context() -> None:
    from bot.wechaty_transport import WechatyTransport

    context = ssl.create_default_context()
    transport = WechatyTransport(
        "a1", endpoint="127.0.0.1:8788", token="tok", ssl_context=context, tls_server_name="svc"
    )

    class Stub:
        def __init__(self, channel: object) -> None:
            self.channel = channel

    class Plain:
        def close(self) -> None:
            self.closed = True

    puppet = SimpleNamespace(channel=Plain(), _puppet_stub=Stub(None))
    puppet._init_puppet = lambda: None
    transport._use_tls(puppet)
    puppet._init_puppet()
    channel = puppet.channel
    assert channel._ssl is context and channel._authority == "tok"
    assert channel._config.ssl_target_name_override == "svc"
    assert puppet._puppet_stub.channel is channel
    channel.close()
