"""How a program on any machine reaches the platform: one address setting, one token setting, and one HTTP call
with nothing but the standard library. The tracking client (azuraforge_learner.tracking, `azuraforge run
--server`, `azuraforge import`) and `azuraforge models` both use it.

    AZURAFORGE_URL        the platform, default http://127.0.0.1:8000 (a local `azuraforge up`)
    AZURAFORGE_API_TOKEN  an API token (POST /api/v1/tokens), or the platform's bootstrap token
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

URL_ENV = "AZURAFORGE_URL"
TOKEN_ENV = "AZURAFORGE_API_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"


class UnreachableError(Exception):
    """No answer from the platform (not running, wrong address, network down, timeout)."""


class HttpError(Exception):
    """The platform answered with an error status; `body` is its answer."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:500].decode(errors='replace')}")
        self.status = status
        self.body = body

    def json(self) -> dict[str, Any]:
        """The answer as a JSON object; empty when it is not one."""
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


@dataclass(frozen=True)
class PlatformClient:
    url: str
    token: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, url: str | None = None, token: str | None = None, timeout_s: float = 30.0) -> PlatformClient:
        """The platform at `url`, else $AZURAFORGE_URL, else a local `azuraforge up`; `token`, else
        $AZURAFORGE_API_TOKEN."""
        address = url or os.environ.get(URL_ENV) or DEFAULT_URL
        return cls(address.rstrip("/"), token or os.environ.get(TOKEN_ENV) or None, timeout_s)

    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        media_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> bytes:
        """The answer's body; HttpError for an error status, UnreachableError without an answer."""
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
        if data is not None:
            request.add_header("Content-Type", media_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer: bytes = response.read()
                return answer
        except urllib.error.HTTPError as exc:
            raise HttpError(method, path, exc.code, exc.read()) from None
        except OSError as exc:  # URLError, refused connections and timeouts are all OSErrors
            raise UnreachableError(f"cannot reach AzuraForge at {self.url} ({exc})") from None

    def json(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Any:
        """A JSON call: `body` sent as JSON (if not None), the answer parsed (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        answer = self.request(method, path, data, "application/json", query)
        return json.loads(answer) if answer else None
