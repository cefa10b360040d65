"""Fixtures shared by the tests. The network path is exercised without the internet: yfinance is sent through
an HTTPS proxy on 127.0.0.1 that refuses connections (no network) or accepts them and never answers (a stalled
network)."""

import socket
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty download cache of its own, never the user's."""
    monkeypatch.setenv("AZURAFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _use_proxy(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def refused_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy address nothing listens on: every request fails at once, as with no network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _use_proxy(monkeypatch, port)


@pytest.fixture
def silent_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A proxy that accepts connections and never answers, as a stalled network does."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    _use_proxy(monkeypatch, server.getsockname()[1])
    yield
    server.close()
    for connection in accepted:
        connection.close()
