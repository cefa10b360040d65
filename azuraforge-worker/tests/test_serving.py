"""The model server as `azuraforge up` starts it: a process of its own answering requests from Redis."""

import asyncio
import subprocess

import pytest
from conftest import worker_environment
from redis.asyncio import Redis as AsyncRedis

from azuraforge_common.artifacts import run_key
from azuraforge_common.models import new_id
from azuraforge_common.processes import stop_process
from azuraforge_common.serving import REQUESTS, ModelRef, ask
from azuraforge_common.worker import serve_command
from azuraforge_worker.serving import ModelCache
from azuraforge_worker.testing import TEST_APP, SineTestPipeline

ROWS = [{"value": value} for value in (0.0, 0.5, 1.0, 0.5, 0.0)]


def saved_run(settings):
    experiment_id = new_id()
    output_dir = settings.artifacts().local_dir(run_key(experiment_id))
    SineTestPipeline().run({"epochs": 1, "window": 4, "horizon": 2}, output_dir=output_dir)
    return ModelRef(source="experiment", id=experiment_id, app=TEST_APP)


def request(settings, model, payload, timeout_s=30.0):
    async def send():
        client = AsyncRedis.from_url(settings.redis_url)
        try:
            return await ask(client, model, payload, timeout_s)
        finally:
            await client.aclose()

    return asyncio.run(send())


@pytest.fixture
def model_server(settings, test_app_path, tmp_path, redis_client):
    log = (tmp_path / "serve.log").open("wb")
    env = worker_environment(settings, test_app_path)
    process = subprocess.Popen(serve_command(2), env=env, stdout=log, stderr=subprocess.STDOUT)
    yield process
    stop_process(process, sig=9)


def test_the_model_server_answers_goes_on_after_bad_requests_and_stops_on_sigterm(settings, model_server, redis_client):
    model = saved_run(settings)
    answer = request(settings, model, {"history": ROWS})
    assert answer is not None
    assert answer.status == "ok"
    assert answer.output is not None
    assert len(answer.output["forecast"]) == 2

    redis_client.lpush(REQUESTS, b"not a request")
    missing_app = request(settings, model.model_copy(update={"app": "no_such_app"}), {"history": ROWS})
    assert missing_app is not None
    assert missing_app.status == "unavailable"
    assert "no app named 'no_such_app' is installed" in (missing_app.detail or "")
    no_files = request(settings, model.model_copy(update={"id": new_id()}), {"history": ROWS})
    assert no_files is not None
    assert no_files.status == "unavailable"
    assert "has no saved model" in (no_files.detail or "")
    too_short = request(settings, model, {"history": ROWS[:1]})
    assert too_short is not None
    assert too_short.status == "invalid"
    assert "window=4" in (too_short.detail or "")
    again = request(settings, model, {"history": ROWS})
    assert again is not None
    assert again.output == answer.output, "same model, same input, same answer"

    assert stop_process(model_server, 30) == 0, "SIGTERM is a clean stop"
    assert request(settings, model, {"history": ROWS}, timeout_s=1) is None, "nobody answers once it stopped"
    assert redis_client.llen(REQUESTS) == 0


def test_the_cache_keeps_the_most_recently_used_models(settings, test_app_path):
    first, second = saved_run(settings), saved_run(settings)
    cache = ModelCache(settings, size=1)
    loaded = cache.get(first)
    assert cache.get(first) is loaded, "a cached model is not loaded again"
    cache.get(second)
    assert len(cache) == 1
    assert cache.get(first) is not loaded, "the least recently used one was dropped"
