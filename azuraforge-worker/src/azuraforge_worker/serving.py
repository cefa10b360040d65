"""The model server: threads that answer prediction requests from Redis (see azuraforge_common.serving) with
models loaded once and kept in an LRU cache, in a process of their own (`python -m azuraforge_worker.serve`),
so app code never runs in the API.

Whatever a request holds, the server answers it and goes on: wrong input is "invalid" with what was wrong, a model
whose app is not installed here is "unavailable" with the reason, anything else is "failed" (logged).
"""

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

import redis
from pydantic import ValidationError

from azuraforge_common.artifacts import model_key, run_key
from azuraforge_common.serving import REPLY_TTL_S, REQUESTS, ModelRef, ServeReply, ServeRequest, reply_key
from azuraforge_common.settings import Settings
from azuraforge_learner.pipeline import WEIGHTS_FILE
from azuraforge_learner.plugins import AppLoadError, UnknownAppError, load_pipeline
from azuraforge_learner.serving import SAVED_MODEL_FILES, CannotPredictError, Predictor, describe

log = logging.getLogger(__name__)

CACHE_SIZE = 16
"""Models kept loaded; the least recently used one is dropped beyond this."""
POP_TIMEOUT_S = 1
"""How often an idle thread looks up from Redis (to notice a stop)."""


class ModelUnavailableError(Exception):
    """This model cannot be served here; the message says why and what to do."""


class ModelCache:
    """Loaded predictors by app and weights (their sha256 for registry versions; for an experiment's own files,
    the store's stamp of its weights), least recently used dropped first. A model is read from the artifact store
    (a temporary download of its files when the store is a bucket) and kept in memory."""

    def __init__(self, settings: Settings, size: int = CACHE_SIZE) -> None:
        self.settings = settings
        self.artifacts = settings.artifacts()
        self.size = size
        self._entries: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: ModelRef) -> Predictor:
        prefix = model_key(model.id) if model.source == "registry" else run_key(model.id)
        stamp = self.artifacts.stamp(f"{prefix}{WEIGHTS_FILE}")
        if stamp is None:
            raise ModelUnavailableError(f"the {model.source} {model.id} has no saved model ({WEIGHTS_FILE} is missing)")
        key = f"{model.app}:{model.weights_sha256 or f'{prefix}:{stamp}'}"
        with self._lock:
            if (cached := self._entries.get(key)) is not None:
                self._entries.move_to_end(key)
                return cached
        # Loaded outside the lock: a slow load never holds up predictions with cached models.
        with self.artifacts.checkout(prefix, only=SAVED_MODEL_FILES) as directory:
            predictor = _load(model.app, directory)
        with self._lock:
            self._entries[key] = predictor
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return predictor

    def __len__(self) -> int:
        return len(self._entries)


def _load(app: str, directory: Path) -> Predictor:
    try:
        return load_pipeline(app)().load_predictor(directory)
    except UnknownAppError as exc:
        raise ModelUnavailableError(f"{exc}; install it where the model server runs, then restart it") from exc
    except (AppLoadError, CannotPredictError) as exc:
        raise ModelUnavailableError(str(exc)) from exc
    except FileNotFoundError as exc:
        raise ModelUnavailableError(f"a file of the saved model is missing: {exc.filename}") from exc


def answer(cache: ModelCache, request: ServeRequest) -> ServeReply:
    """The reply to one request; never raises."""
    try:
        predictor = cache.get(request.model)
        return ServeReply(status="ok", output=predictor.predict_json(request.input))
    except ModelUnavailableError as exc:
        return ServeReply(status="unavailable", detail=str(exc))
    except ValidationError as exc:
        return ServeReply(status="invalid", detail=describe(exc))
    except ValueError as exc:
        return ServeReply(status="invalid", detail=str(exc))
    except Exception:
        log.exception("prediction with %s %s failed", request.model.source, request.model.id)
        return ServeReply(status="failed", detail="the model server failed on this prediction; its log says why")


def serve_forever(settings: Settings, stop: threading.Event, threads: int, cache: ModelCache | None = None) -> None:
    """Answers requests on `threads` threads until `stop` is set."""
    shared = cache if cache is not None else ModelCache(settings)
    workers = [
        threading.Thread(target=_serve, args=(settings, shared, stop), name=f"azuraforge-serve-{n}", daemon=True)
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _serve(settings: Settings, cache: ModelCache, stop: threading.Event) -> None:
    client = redis.Redis.from_url(settings.require_redis_url(), socket_timeout=POP_TIMEOUT_S + 5)
    try:
        while not stop.is_set():
            try:
                popped = client.brpop([REQUESTS], timeout=POP_TIMEOUT_S)
                if popped is None:
                    continue
                request = ServeRequest.model_validate_json(popped[1])
                if request.deadline < time.time():
                    continue  # the caller gave up waiting
                reply = answer(cache, request)
                key = reply_key(request.id)
                with client.pipeline() as pipe:
                    pipe.lpush(key, reply.model_dump_json())
                    pipe.expire(key, REPLY_TTL_S)
                    pipe.execute()
            except redis.RedisError as exc:
                log.warning("Redis unreachable (%s); retrying in 1 s", exc)
                stop.wait(1.0)
            except ValidationError as exc:
                log.error("dropped a request that is not a prediction request: %s", describe(exc))
    finally:
        client.close()
