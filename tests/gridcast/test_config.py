from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.config import ConfigError, load_settings, parse_settings


def test_defaults_need_no_file() -> None:
    settings = parse_settings({})
    assert settings.town.name == "国欢镇"
    assert settings.database_url.endswith("data/gridcast.db")
    assert len(settings.account_settings()) == 32
    assert settings.tickets.sla.urgent.accept == timedelta(minutes=15)
    assert settings.tickets.sla.normal.resolve == timedelta(days=7)
    assert {c.code for c in settings.tickets.categories} >= {"dispute", "noise", "other"}


def test_repository_config_yaml_is_valid() -> None:
    settings = load_settings(Path(__file__).parents[2] / "config.yaml")
    assert settings.town.name == "国欢镇"


def test_durations_accept_human_units() -> None:
    settings = parse_settings(
        {
            "tickets": {
                "sla": {"urgent": {"accept": "10m", "resolve": "90min"}},
                "rating_timeout": 3600,
            }
        }
    )
    assert settings.tickets.sla.urgent.accept == timedelta(minutes=10)
    assert settings.tickets.sla.urgent.resolve == timedelta(minutes=90)
    assert settings.tickets.rating_timeout == timedelta(hours=1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"web": {"port": "x"}}, "web.port = 'x'"),
        ({"web": {"port": 70000}}, "web.port = 70000: Input should be less than or equal to 65535"),
        (
            {"bots": {"accounts": [{"id": "a", "rate_per_s": -1}]}},
            "bots.accounts[0].rate_per_s = -1",
        ),
        ({"bots": {"acounts": []}}, "bots.acounts: unknown key; allowed here: accounts"),
        ({"colour": "red"}, "colour: unknown key"),
        (
            {"tickets": {"categories": [{"code": "x", "name": "y", "department": "nope"}]}},
            "'nope': not a department code",
        ),
        (
            {"cadences": {"daily": "every day"}},
            "cadences.daily = 'every day': not a crontab expression",
        ),
        (
            {"tickets": {"sla": {"urgent": {"accept": "0s", "resolve": "2h"}}}},
            "must be longer than zero",
        ),
        ({"town": {"timezone": "Mars/Base"}}, "town.timezone = 'Mars/Base': unknown time zone"),
        ({"database": {"url": "mysql://x"}}, "must start with sqlite:// or postgresql://"),
        ({"bots": {"accounts": [{"id": "a"}, {"id": "a"}]}}, "duplicate account id(s) a"),
        (
            {"bots": {"accounts": [{"id": "a", "endpoint": "no-port"}]}},
            "bots.accounts[0].endpoint = 'no-port'",
        ),
    ],
)
def test_wrong_values_name_key_value_and_rule(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw)
    assert expected in str(caught.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"web": {"port": -1}, "bots": {"burst": 0}, "unknown": 1})
    message = str(caught.value)
    assert "3 problem(s)" in message
    for key in ("web.port", "bots.burst", "unknown"):
        assert key in message


def test_secrets_come_from_the_environment() -> None:
    raw = {
        "bots": {"accounts": [{"id": "a", "endpoint": "puppet:8788", "token": "${PUPPET_TOKEN}"}]}
    }
    settings = parse_settings(raw, env={"PUPPET_TOKEN": "secret-1"})
    assert settings.bots.accounts[0].token.get_secret_value() == "secret-1"
    assert "secret-1" not in repr(settings) and "secret-1" not in str(settings.model_dump())
    with pytest.raises(
        ConfigError,
        match=r"bots.accounts\[0\].token: environment variable PUPPET_TOKEN is not set",
    ):
        parse_settings(raw, env={})


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("town:\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+, column \d+\)"):
        load_settings(path)


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes("town:\n  name: 国欢镇\n".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(path)


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_settings(path).web.port == 8080


def test_data_dir_option_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("data_dir: /somewhere\n", encoding="utf-8")
    settings = load_settings(path, data_dir=tmp_path / "d")
    assert settings.data_dir == tmp_path / "d"
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'gridcast.db'}"


def test_show_and_check_mask_tokens_and_database_passwords(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gridcast.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(
        "database:\n  url: postgresql://gc:hunter2-pw@db.example:5432/gridcast\n"
        "bots:\n  accounts:\n    - {id: a, endpoint: 'puppet:8788', token: tok-SECRET-9}\n"
        "sandbox:\n  enabled: false\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for command in (["config", "show"], ["config", "check"]):
        result = runner.invoke(main, [*command, "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert "hunter2-pw" not in result.output
        assert "tok-SECRET-9" not in result.output
    check = runner.invoke(main, ["config", "check", "--config", str(config)])
    assert "postgresql://gc:***@db.example:5432/gridcast" in check.output
