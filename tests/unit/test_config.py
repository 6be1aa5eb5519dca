"""Configuration: flags beat variables beat the TOML file; every value is type-checked from every source."""

from __future__ import annotations

from pathlib import Path

import pytest

from vectra.config import ConfigError, load_settings


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vectra.toml"
    path.write_text(text)
    return path


def test_a_flag_beats_the_variable_which_beats_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, "rest_port = 1001\ngrpc_port = 1002\nhost = '0.0.0.0'\n")
    settings = load_settings(
        {"rest_port": "3001"}, {"VECTRA_REST_PORT": "2001", "VECTRA_GRPC_PORT": "2002"}, config_file=config
    )
    assert (settings.rest_port, settings.grpc_port, settings.host) == (3001, 2002, "0.0.0.0")


def test_the_file_may_hold_its_settings_in_a_vectra_table(tmp_path: Path) -> None:
    config = _toml(tmp_path, "[vectra]\ntoken_lifetime_seconds = 60\nupstream_allow_cidrs = ['10.0.0.0/8']\n")
    settings = load_settings({}, {}, config_file=config)
    assert settings.token_lifetime_seconds == 60
    assert settings.upstream_allow_cidrs == ("10.0.0.0/8",)


def test_defaults_apply_when_no_source_names_a_setting() -> None:
    settings = load_settings({}, {})
    assert (settings.rest_port, settings.grpc_port, settings.host) == (7080, 7081, "127.0.0.1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('rest_port = "abc"', "rest_port must be a whole number"),
        ("rest_port = true", "rest_port must be a whole number, not a boolean"),
        ("rest_port = 1.5", "rest_port must be a whole number"),
        ("host = 127", "host must be a string"),
        ("data_dir = ['a']", "data_dir must be a string"),
        ("upstream_allow_cidrs = [1, 2]", "upstream_allow_cidrs must be a list of strings"),
        ("shutdown_grace_seconds = 'soon'", "shutdown_grace_seconds must be a number"),
        ("shutdown_grace_seconds = nan", "shutdown_grace_seconds must be a finite number"),
        ("log_level = 'chatty'", "log level must be one of"),
        ("rest_port = 70000", "port 70000 is out of range"),
        ("token_lifetime_seconds = 0", "token_lifetime_seconds must be at least 1"),
        ("database_synchronous = 'off'", "database_synchronous must be one of normal, full"),
        ("vectra = 3", "[vectra] must be a table"),
    ],
)
def test_a_wrongly_typed_file_value_is_a_configuration_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings({}, {}, config_file=_toml(tmp_path, text))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"VECTRA_REST_PORT": "abc"}, r"rest_port must be a whole number, not 'abc' \(from VECTRA_REST_PORT\)"),
        ({"VECTRA_GRPC_PORT": "1e3"}, "grpc_port must be a whole number"),
        ({"VECTRA_AGENT_CACHE_SECONDS": "inf"}, "agent_cache_seconds must be a finite number"),
        ({"VECTRA_CLOCK_SKEW_SECONDS": "-5"}, "clock_skew_seconds must not be negative"),
        ({"VECTRA_UPSTREAM_ALLOW_CIDRS": "10.0.0.0/33"}, "upstream allow CIDR"),
        ({"VECTRA_JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"VECTRA_HITL_THRESHOLD": "1.5"}, "hitl_threshold must be from 0 to 1"),
        ({"VECTRA_HITL_TRUST_FACTOR": "-0.1"}, "hitl_trust_factor must be from 0 to 2"),
        ({"VECTRA_BREAKER_FAILURES": "0"}, "breaker_failures must be positive"),
    ],
)
def test_a_wrongly_typed_variable_is_a_configuration_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ)


def test_a_wrongly_typed_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"\(from --rest-port\)"):
        load_settings({"rest_port": "eighty"}, {})


def test_an_unknown_file_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown settings \['rest_prot'\]"):
        load_settings({}, {}, config_file=_toml(tmp_path, "rest_prot = 1\n"))


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file"):
        load_settings({}, {}, config_file=_toml(tmp_path, "rest_port = = 1\n"))


def test_a_refused_secret_is_never_echoed(tmp_path: Path) -> None:
    secret = "x" * 50 + "-do-not-echo"
    with pytest.raises(ConfigError) as refused:
        load_settings({}, {}, config_file=_toml(tmp_path, f"jwt_previous_secrets = ['{secret}', 7]\n"))
    assert secret not in str(refused.value)
