"""Settings come from the environment once, typed; a value that does not fit stops the start."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.settings import Settings, SettingsError
from tests.conftest import PROJECT_ROOT


def test_each_variable_sets_its_setting() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db.example/dateline",
            "DATELINE_POOL_SIZE": "4",
            "DATELINE_KEY_CACHE_SECONDS": "2.5",
            "DATELINE_PROJECTIONS": "off",
            "DATELINE_PROJECTION_POLL_SECONDS": "0.5",
            "DATELINE_VAR_DIR": "/srv/dateline",
            "DATELINE_LOG_LEVEL": "info",
            "DATELINE_ACCESS_LOG": "true",
            "UNRELATED": "ignored",
        }
    )
    assert settings == Settings(
        database_url="postgresql://db.example/dateline",
        pool_size=4,
        key_cache_seconds=2.5,
        projections="off",
        projection_poll_seconds=0.5,
        var_dir="/srv/dateline",
        log_level="info",
        access_log=True,
    )
    assert not settings.run_projections
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"DATABASE_URL": ""}).database_url is None


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("DATELINE_PROJECTIONS", "on", "in-process or off"),
        ("DATELINE_POOL_SIZE", "0", ">= 1"),
        ("DATELINE_POOL_SIZE", "ten", "int"),
        ("DATELINE_KEY_CACHE_SECONDS", "-1", ">= 0"),
        ("DATELINE_PROJECTION_POLL_SECONDS", "0", "> 0"),
        ("DATELINE_LOG_LEVEL", "loud", "debug, info, warning or error"),
        ("DATELINE_ACCESS_LOG", "maybe", "true or false"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(variable: str, value: str, accepted: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert refused.value.variable == variable
    assert f"{variable}={value!r}" in str(refused.value)
    assert accepted in str(refused.value)


def test_the_app_refuses_to_start_on_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATELINE_PROJECTIONS", "yes")
    with pytest.raises(SettingsError):
        create_app()


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    defaults = Settings()
    for name, variable in Settings.ENVIRONMENT.items():
        default = getattr(defaults, name)
        assert f"| `{variable}` |" in readme, variable
        if default is not None:
            shown = str(default).lower().removesuffix(".0")
            assert f"| `{variable}` | `{shown}` |" in readme, (variable, shown)
