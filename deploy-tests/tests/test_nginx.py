"""The dashboard's nginx.conf: accepted by nginx itself, proxying /api and /ws (with the WebSocket upgrade)
to the api service, and answering client-side routes with index.html. test_stack.py runs it for real."""

import re
import subprocess

import pytest
from deploycheck import dockerfile, local, repo

CONF = (repo.DOCKER_DIR / "nginx.conf").read_text()


def location(prefix: str) -> str:
    match = re.search(rf"location {re.escape(prefix)} \{{(.*?)\n    \}}", CONF, re.DOTALL)
    assert match is not None, f"nginx.conf has no `location {prefix}`"
    return match[1]


def test_nginx_accepts_the_configuration(tmp_path):
    config = local.nginx_config(tmp_path, api_port=8000, port=8080)
    result = subprocess.run(
        [local.nginx_executable(), "-t", "-c", str(config), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_rejects_a_broken_configuration(tmp_path):
    """The check above can fail."""
    config = local.nginx_config(tmp_path, api_port=8000, port=8080)
    server = tmp_path / "default.conf"
    server.write_text(server.read_text().replace("proxy_http_version 1.1;", "proxy_http_version;"))
    result = subprocess.run(
        [local.nginx_executable(), "-t", "-c", str(config), "-e", str(tmp_path / "error.log")], capture_output=True
    )
    assert result.returncode != 0


def test_upstream_is_the_api_service_on_its_port():
    port = dockerfile.stages(repo.DOCKER_DIR / "api.Dockerfile")[-1].env()["UVICORN_PORT"]
    assert f"set $api_upstream http://api:{port};" in CONF


@pytest.mark.parametrize("prefix", ["/api/", "/ws/"])
def test_api_and_websockets_are_proxied(prefix):
    assert "proxy_pass $api_upstream;" in location(prefix)


def test_websocket_upgrade_headers():
    block = location("/ws/")
    assert "proxy_http_version 1.1;" in block
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert "proxy_set_header Connection $connection_upgrade;" in block
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", CONF)


def test_client_side_routes_fall_back_to_index_html():
    assert "try_files $uri $uri/ /index.html;" in location("/")
    assert "try_files $uri =404;" in location("/assets/")  # a missing bundle is a 404, not the page
