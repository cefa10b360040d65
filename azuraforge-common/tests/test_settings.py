from pathlib import Path

import pytest

from azuraforge_common.settings import Settings


def test_reads_azuraforge_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("AZURAFORGE_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("AZURAFORGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AZURAFORGE_CORS_ORIGINS", "http://localhost:5173, https://forge.example.com,")
    monkeypatch.setenv("AZURAFORGE_API_TOKEN", "s3cret")
    settings = Settings()
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.cors_origins == ["http://localhost:5173", "https://forge.example.com"]
    assert settings.api_token == "s3cret"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'azuraforge.db'}"
    assert settings.artifacts().local_dir("experiments/abc/") == tmp_path / "experiments" / "abc"


@pytest.mark.parametrize(
    ("url", "problem"),
    [("https://bucket/x", "must look like s3://"), ("s3:///prefix", "names no bucket"), ("s3://b/../x", "prefix")],
)
def test_a_bad_artifact_store_url_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, url: str, problem: str):
    monkeypatch.setenv("AZURAFORGE_ARTIFACT_STORE", url)
    with pytest.raises(ValueError, match=problem):
        Settings()


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZURAFORGE_API_TOKEN", "")
    monkeypatch.setenv("AZURAFORGE_REDIS_URL", "")
    monkeypatch.delenv("AZURAFORGE_CORS_ORIGINS", raising=False)
    settings = Settings()
    assert settings.api_token is None
    assert settings.cors_origins == []
    with pytest.raises(RuntimeError, match="AZURAFORGE_REDIS_URL is not set"):
        settings.require_redis_url()


def test_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", "postgresql+psycopg://u@db/forge")
    assert Settings().resolved_database_url == "postgresql+psycopg://u@db/forge"


def test_the_visibility_timeout_is_sized_to_the_heartbeat_not_to_the_longest_run(monkeypatch):
    monkeypatch.delenv("AZURAFORGE_VISIBILITY_TIMEOUT_S", raising=False)
    monkeypatch.delenv("AZURAFORGE_HEARTBEAT_TTL_S", raising=False)
    settings = Settings()
    assert settings.heartbeat_ttl_s < settings.visibility_timeout_s <= 20 * settings.heartbeat_ttl_s
