"""Settings: one table, read from the environment, overridden by flags, documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveblog.settings import SETTINGS, Settings, markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_environment_is_read_and_flags_win():
    env = {"LIVEBLOG_PORT": "9001", "LIVEBLOG_WORKERS": "2", "LIVEBLOG_REDIS_URL": "redis://x:6379/0"}
    settings = Settings.from_env(env, port=9002)
    assert settings.port == 9002
    assert settings.workers == 2
    assert settings.redis_url == "redis://x:6379/0"
    assert Settings.from_env({}).data_dir == "./var"


def test_bad_values_fail_loudly_with_the_variable_name():
    with pytest.raises(ValueError, match="LIVEBLOG_WORKERS"):
        Settings.from_env({"LIVEBLOG_WORKERS": "0"})
    with pytest.raises(ValueError, match="LIVEBLOG_PORT"):
        Settings.from_env({"LIVEBLOG_PORT": "eighty"})
    with pytest.raises(ValueError, match="LIVEBLOG_AUDIENCE_INTERVAL: must be > 0"):
        Settings.from_env({"LIVEBLOG_AUDIENCE_INTERVAL": "0"})


def test_table_defaults_match_the_settings_class():
    defaults = Settings()
    assert {s.name for s in SETTINGS} == set(defaults.__dataclass_fields__)
    for setting in SETTINGS:
        assert getattr(defaults, setting.name) == setting.default, setting.name


def test_child_environment_round_trips():
    settings = Settings(port=8123, redis_url="unix:///tmp/x.sock", workers=2)
    assert Settings.from_env(settings.to_env()) == settings


def test_readme_shows_the_configuration_table_verbatim():
    assert markdown_table() in README.read_text()
