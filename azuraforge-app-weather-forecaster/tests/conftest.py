"""Local stand-ins for Open-Meteo: a real HTTP server on 127.0.0.1 that answers what a test tells it to,
a port nothing listens on, and a server that accepts connections and never answers. No test uses the
internet."""

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty download cache of its own, never the user's."""
    monkeypatch.setenv("AZURAFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@dataclass
class FakeOpenMeteo:
    url: str
    status: int = 200
    body: Any = field(default_factory=dict)
    queries: list[dict[str, list[str]]] = field(default_factory=list)


@pytest.fixture
def open_meteo() -> Iterator[FakeOpenMeteo]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeOpenMeteo(url=f"http://127.0.0.1:{server.server_address[1]}/v1/archive")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.queries.append(parse_qs(urlparse(self.path).query))
            payload = fake.body if isinstance(fake.body, str) else json.dumps(fake.body)
            encoded = payload.encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/archive"


@pytest.fixture
def silent_url() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1/archive"
    server.close()
    for connection in accepted:
        connection.close()
