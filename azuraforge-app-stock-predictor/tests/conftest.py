import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty download cache of its own, never the user's."""
    monkeypatch.setenv("AZURAFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
