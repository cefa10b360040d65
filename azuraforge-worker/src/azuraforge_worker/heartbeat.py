"""A running experiment's heartbeat: a Redis key with a TTL, refreshed by a thread while the task runs.

If the worker process dies, nobody refreshes the key, it expires, and the API's reaper marks the experiment
failed ("worker lost"). The key holds which worker runs the experiment (host and pid), for people debugging.
"""

import logging
import os
import socket
import threading
from types import TracebackType

import redis

from azuraforge_common import names

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, client: redis.Redis, experiment_id: str, ttl_s: float) -> None:
        self._client = client
        self._key = names.heartbeat_key(experiment_id)
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._interval_s = ttl_s / 3
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="azuraforge-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._client.set(self._key, self._owner, px=self._ttl_ms)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()
        try:
            self._client.delete(self._key)
        except redis.RedisError:
            log.warning("could not delete %s; it expires by itself", self._key)

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self._client.set(self._key, self._owner, px=self._ttl_ms)
            except redis.RedisError as exc:
                log.warning("heartbeat %s not refreshed: %s", self._key, exc)
