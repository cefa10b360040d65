"""The WebSocket: replay, live handoff, reconnects, many clients, slow clients. Events are published here with
the worker's own publish_event, so each test controls exactly when each event exists."""

import asyncio
import base64
import contextlib
import gc
import importlib.metadata
import itertools
import json
import os
import socket
import threading
import time

import pytest
import websockets
from conftest import RunningAPI, create, wait_for
from fastapi.routing import _IncludedRouter
from redis.asyncio import Redis as AsyncRedis
from websockets.sync.client import connect

from azuraforge_api import guard
from azuraforge_api.app import create_app
from azuraforge_api.fanout import FrameWriter
from azuraforge_api.hub import EventHub
from azuraforge_api.platform import JOINS_AT_ONCE, LIVE_THREADS
from azuraforge_api.routes import live as live_route
from azuraforge_common import names, store
from azuraforge_common.events import BatchEvent, EpochEndEvent, PredictionsEvent, StatusEvent
from azuraforge_common.lifecycle import end_experiment
from azuraforge_common.publish import publish_event


def epoch(api, experiment_id, n, total=10):
    metrics = {"loss": 1.0 / n}
    event = EpochEndEvent(
        experiment_id=experiment_id, epoch=n, total_epochs=total, metrics=metrics, elapsed_s=n, eta_s=1
    )
    return publish_event(api.platform.redis, event)


def finish(api, experiment_id, status="succeeded", result=None):
    with api.platform.sessions() as session:
        store.transition(session, experiment_id, ["queued"], "running")
        assert end_experiment(session, api.platform.redis, experiment_id, ["running"], status, result=result)


def watch(api, experiment_id, after=None, timeout=20):
    """Every message until the server closes the socket, and the close code."""
    query = f"?after={after}" if after is not None else ""
    with connect(f"{api.ws_url}/ws/experiments/{experiment_id}{query}") as ws:
        messages = [json.loads(message) for message in iter_messages(ws, timeout)]
    return messages, ws.close_code


def iter_messages(ws, timeout):
    while True:
        try:
            yield ws.recv(timeout=timeout)
        except websockets.exceptions.ConnectionClosedOK:
            return


def test_replays_stored_events_then_forwards_live_ones_and_closes_after_the_final(api):
    experiment_id = create(api)["id"]
    epoch(api, experiment_id, 1)
    with connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as ws:
        replayed = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
        assert [(e["seq"], e["type"]) for e in replayed] == [(1, "status"), (2, "epoch_end")]
        epoch(api, experiment_id, 2)
        live = json.loads(ws.recv(timeout=10))
        assert (live["seq"], live["epoch"], live["metrics"]) == (3, 2, {"loss": 0.5})
        finish(api, experiment_id)
        final = json.loads(ws.recv(timeout=10))
        assert (final["type"], final["status"], final["final"]) == ("status", "succeeded", True)
        with pytest.raises(websockets.exceptions.ConnectionClosedOK):
            ws.recv(timeout=10)
    assert ws.close_code == 1000


def test_after_sends_only_what_was_missed(api):
    experiment_id = create(api)["id"]
    for n in range(1, 5):
        epoch(api, experiment_id, n)
    finish(api, experiment_id)
    messages, code = watch(api, experiment_id, after=3)
    assert [m["seq"] for m in messages] == [4, 5, 6]
    assert code == 1000


def test_a_finished_experiment_replays_and_closes(api):
    experiment_id = create(api)["id"]
    epoch(api, experiment_id, 1)
    finish(api, experiment_id, "failed")
    messages, code = watch(api, experiment_id)
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert messages[-1]["final"] is True
    assert code == 1000


def test_a_finished_experiment_whose_events_were_lost_still_ends_from_its_record(api):
    experiment_id = create(api)["id"]
    finish(api, experiment_id, "cancelled")
    api.platform.redis.delete(names.events_stream(experiment_id))
    messages, code = watch(api, experiment_id)
    assert [(m["type"], m["status"], m["final"]) for m in messages] == [("status", "cancelled", True)]
    assert code == 1000


def test_the_final_event_carries_the_run_record_live_and_when_rebuilt_from_the_record(api):
    experiment_id = create(api)["id"]
    result = {"status": "succeeded", "verdict": [{"metric": "rmse", "beaten": False}]}
    finish(api, experiment_id, result=result)
    messages, _ = watch(api, experiment_id)
    assert (messages[-1]["final"], messages[-1]["result"]) == (True, result)
    api.platform.redis.delete(names.events_stream(experiment_id))
    messages, _ = watch(api, experiment_id)
    assert [(m["final"], m["result"]) for m in messages] == [(True, result)]


@pytest.fixture(params=["frames written by the hub", "ASGI sends"])
def delivery_path(request, monkeypatch):
    """Both ways a caught-up client gets its events: under uvicorn the hub writes them itself (fanout.py); under
    another server, or with an extension negotiated, they go through ASGI sends."""
    if request.param == "ASGI sends":
        monkeypatch.setattr(FrameWriter, "of", classmethod(lambda cls, send: None))
    return request.param


def test_every_client_gets_every_event_once_however_its_connection_races_the_publisher(api, delivery_path):
    """Clients connect while events pour in: the replay/live handoff must neither drop nor repeat any."""
    experiment_id = create(api)["id"]
    total = 1000

    def publish_all():
        for n in range(1, total + 1):
            publish_event(
                api.platform.redis,
                BatchEvent(experiment_id=experiment_id, epoch=1, batch=n, total_batches=total, loss=1.0),
            )
        finish(api, experiment_id)

    results: list[tuple[list[dict], int | None]] = []

    def watch_later(delay_s):
        time.sleep(delay_s)
        results.append(watch(api, experiment_id))

    threads = [threading.Thread(target=publish_all)]
    threads += [threading.Thread(target=watch_later, args=(0.02 * n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    for messages, code in results:
        assert [m["seq"] for m in messages] == list(range(1, total + 3))
        assert code == 1000


def test_reconnecting_with_after_yields_exactly_the_missed_events(api):
    experiment_id = create(api)["id"]
    with connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as first:
        for n in (1, 2):
            epoch(api, experiment_id, n)
        seen = [json.loads(first.recv(timeout=10)) for _ in range(3)]
    last = seen[-1]["seq"]
    for n in (3, 4):
        epoch(api, experiment_id, n)  # published while disconnected
    with connect(f"{api.ws_url}/ws/experiments/{experiment_id}?after={last}") as second:
        missed = [json.loads(second.recv(timeout=10)) for _ in range(2)]
        finish(api, experiment_id)
        rest = list(iter_messages(second, 10))
    assert [m["seq"] for m in missed] == [4, 5]
    assert [m["epoch"] for m in missed] == [3, 4]
    assert [json.loads(m)["seq"] for m in rest] == [6]


def test_two_clients_see_the_same_events(api, delivery_path):
    experiment_id = create(api)["id"]
    with (
        connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as one,
        connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as two,
    ):
        assert json.loads(one.recv(timeout=10))["seq"] == json.loads(two.recv(timeout=10))["seq"] == 1
        direct = 2 if delivery_path == "frames written by the hub" else 0
        wait_for(lambda: api.platform.hub.written_directly == direct, 10, f"{direct} clients on direct writes")
        for n in range(1, 4):
            epoch(api, experiment_id, n)
        finish(api, experiment_id)
        got_one, got_two = list(iter_messages(one, 10)), list(iter_messages(two, 10))
    assert got_one == got_two
    assert [json.loads(m)["seq"] for m in got_one] == [2, 3, 4, 5]
    assert [json.loads(m).get("epoch") for m in got_one[:3]] == [1, 2, 3]
    assert (one.close_code, two.close_code) == (1000, 1000), "closed after the final event"


def test_with_compression_negotiated_events_go_through_asgi_sends(settings):
    """Each client would need its own compressed frame: the hub leaves such connections to the server."""
    with RunningAPI(settings, ws_per_message_deflate=True) as api:
        experiment_id = create(api)["id"]
        with connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as ws:
            assert json.loads(ws.recv(timeout=10))["seq"] == 1
            epoch(api, experiment_id, 1)
            assert json.loads(ws.recv(timeout=10))["epoch"] == 1
            assert api.platform.hub.subscriptions == 1
            assert api.platform.hub.written_directly == 0


def test_a_disconnect_frees_the_subscription(api):
    experiment_id = create(api)["id"]
    with connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as ws:
        ws.recv(timeout=10)
        assert api.platform.hub.subscriptions == 1
    wait_for(lambda: api.platform.hub.subscriptions == 0, 10, "the subscription to be freed")


def test_unknown_experiment_is_refused_with_404(api):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(f"{api.ws_url}/ws/experiments/nope").close()
    assert refused.value.response.status_code == 404


def test_list_socket_carries_status_events_of_every_experiment(api):
    with connect(f"{api.ws_url}/ws/experiments") as ws:
        wait_for(lambda: api.platform.hub.subscriptions == 1, 10, "the list subscription")
        first, second = create(api)["id"], create(api)["id"]
        epoch(api, first, 1)
        finish(api, second)
        received = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
    assert [(m["experiment_id"], m["status"]) for m in received] == [
        (first, "queued"), (second, "queued"), (second, "succeeded"),
    ]  # fmt: skip
    assert all(m["type"] == "status" for m in received)


def test_a_slow_client_is_dropped_without_slowing_the_others(redis_server, redis_client):
    async def scenario():
        hub = EventHub(AsyncRedis.from_url(redis_server.url))
        hub.start()
        await asyncio.wait_for(hub.connected.wait(), 10)
        slow, fast = hub.subscribe("exp"), hub.subscribe("exp")
        received: list[int] = []

        async def read_fast():
            while len(received) < EventHub.MAX_PENDING + 100:
                delivery = await fast.queue.get()
                assert isinstance(delivery, tuple)
                received.append(delivery[0].seq)

        reader = asyncio.create_task(read_fast())
        for n in itertools.islice(itertools.count(1), EventHub.MAX_PENDING + 100):
            await asyncio.to_thread(publish_event, redis_client, StatusEvent(experiment_id="exp", status="running"))
            if n % 100 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(reader, 30)
        assert received == list(range(1, EventHub.MAX_PENDING + 101)), "the fast client got every event"
        assert slow.dropped is not None
        assert "too slow" in slow.dropped
        assert slow.queue.get_nowait() is None, "the slow client is told to reconnect"
        await hub.close()

    asyncio.run(scenario())


@pytest.fixture
def short_deadlines(monkeypatch):
    monkeypatch.setattr(live_route, "WATCHDOG_INTERVAL_S", 0.05)
    monkeypatch.setattr(live_route, "IDLE_CHECK_S", 0.3)
    monkeypatch.setattr(live_route, "FINAL_GRACE_S", 0.3)
    monkeypatch.setattr(live_route, "SEND_TIMEOUT_S", 0.5)


def test_an_experiment_that_ended_unannounced_is_closed_from_its_record(api, short_deadlines):
    experiment_id = create(api)["id"]
    with api.platform.sessions() as session:
        store.transition(session, experiment_id, ["queued"], "running")
    with connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as ws:
        assert json.loads(ws.recv(timeout=10))["status"] == "queued"
        with api.platform.sessions() as session:
            store.transition(session, experiment_id, ["running"], "failed", error="lost")  # no event published
        rest = [json.loads(message) for message in iter_messages(ws, 10)]
    assert [(m["status"], m["error"], m["final"]) for m in rest] == [("failed", "lost", True)]
    assert ws.close_code == 1000


def test_a_client_that_stops_reading_is_disconnected(api, short_deadlines, delivery_path):
    experiment_id = create(api)["id"]
    with socket.create_connection(("127.0.0.1", api.port)) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(os.urandom(16)).decode()
        client.sendall(
            f"GET /ws/experiments/{experiment_id} HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert client.recv(4096).startswith(b"HTTP/1.1 101")
        wait_for(lambda: api.platform.hub.subscriptions == 1, 10, "the client to subscribe")
        points: list[float | None] = [
            0.123456789
        ] * 20_000  # ~0.5 MB an event: a few fill the buffers of a client that reads nothing
        for n in range(1, 41):
            event = PredictionsEvent(experiment_id=experiment_id, epoch=n, actual=points, predicted=points)
            publish_event(api.platform.redis, event)
        wait_for(lambda: api.platform.hub.subscriptions == 0, 20, "the stalled client to be disconnected")


def test_every_routing_table_is_built_before_the_first_request(settings):
    """FastAPI builds an included router's table when a request first walks past it; the first watcher's WebSocket
    walks past every REST router (~80 ms of the event loop, with everyone else waiting). create_app builds them."""
    app = create_app(settings)
    included = [route for route in app.router.routes if isinstance(route, _IncludedRouter)]
    assert len(included) >= 9
    assert all(route._effective_candidates_version == route.original_router._get_routes_version() for route in included)


def test_the_serving_process_exempts_its_startup_objects_from_garbage_collection(settings):
    """A full collection walked every object of the process (0.2-0.7 s with the event loop stopped); a crowd of
    watchers joining set one off. Objects alive at startup live as long as the process: the collector skips them."""
    assert gc.get_freeze_count() == 0
    try:
        with RunningAPI(settings, freeze_gc=True):
            frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
        assert frozen > 10 * tracked, (frozen, tracked)
    finally:
        gc.unfreeze()  # this test process goes on starting apps


def test_opening_a_redis_connection_reads_no_package_metadata(api, monkeypatch):
    """redis-py looked up its own version in the installed package's metadata for every new connection (4-8 ms on
    the event loop); the platform's pools are given it once."""

    def refuse(name):
        raise AssertionError(f"metadata of {name} read while opening a connection")

    installed = importlib.metadata.version("redis")
    monkeypatch.setattr(importlib.metadata, "version", refuse)
    for pool in (api.platform.redis.connection_pool, api.platform.aredis.connection_pool):
        connection = pool.make_connection()
        assert connection.driver_info is not None
        assert connection.driver_info.lib_version == installed


def test_a_crowd_joining_reads_the_database_on_a_few_threads(api, monkeypatch):
    """Each joining watcher's database read took a thread of the shared pool (40): that many threads took turns
    with the event loop for the GIL. The live routes have LIVE_THREADS of their own."""
    experiment_id = create(api)["id"]
    epoch(api, experiment_id, 1)
    lock = threading.Lock()
    reading, most = 0, 0
    status_of = live_route._status_of

    def slow_status_of(platform, experiment_id):
        nonlocal reading, most
        with lock:
            reading += 1
            most = max(most, reading)
        time.sleep(0.05)
        with lock:
            reading -= 1
        return status_of(platform, experiment_id)

    monkeypatch.setattr(live_route, "_status_of", slow_status_of)

    async def join():
        async with websockets.connect(f"{api.ws_url}/ws/experiments/{experiment_id}") as ws:
            return json.loads(await ws.recv())["seq"]

    async def crowd():
        return await asyncio.gather(*(join() for _ in range(12)))

    assert asyncio.run(crowd()) == [1] * 12
    assert most == LIVE_THREADS


def test_a_crowd_joins_a_few_at_a_time_and_watchers_keep_no_slot(api, monkeypatch):
    """200 watchers joining together made every turn of the event loop 200 steps long, and a live event arriving
    then waited for the turn. Watchers are routed, admitted and replayed JOINS_AT_ONCE at a time; the slot is
    given back once the replay is out."""
    experiment_id = create(api)["id"]
    epoch(api, experiment_id, 1)
    joining, most = 0, 0
    stored_events = live_route._stored_events

    async def slow_stored_events(platform, experiment_id, after):
        nonlocal joining, most
        joining += 1
        most = max(most, joining)
        await asyncio.sleep(0.05)
        joining -= 1
        return await stored_events(platform, experiment_id, after)

    monkeypatch.setattr(live_route, "_stored_events", slow_stored_events)

    async def crowd():
        sockets = [websockets.connect(f"{api.ws_url}/ws/experiments/{experiment_id}") for _ in range(12)]
        async with contextlib.AsyncExitStack() as stack:
            connected = await asyncio.gather(*(stack.enter_async_context(ws) for ws in sockets))
            replayed = [json.loads(await ws.recv())["seq"] for ws in connected]
            slots_free = api.platform.joins.value  # every watcher still connected, and live
            epoch(api, experiment_id, 2)
            live = [json.loads(await ws.recv())["seq"] for ws in connected]
        return replayed, slots_free, live

    replayed, slots_free, live = asyncio.run(crowd())
    assert (replayed, live) == ([1] * 12, [2] * 12)
    assert most == JOINS_AT_ONCE
    assert slots_free == JOINS_AT_ONCE


def test_a_watcher_waits_for_a_join_slot_only_so_long(api, monkeypatch):
    """While the slots' holders are stuck (a database that hangs, say), a joining watcher gets a 503 that says to
    retry, not an endless wait; once they are through, joining works again."""
    experiment_id = create(api)["id"]
    epoch(api, experiment_id, 1)
    monkeypatch.setattr(guard, "JOIN_WAIT_S", 0.5)
    release = asyncio.Event()
    stored_events = live_route._stored_events

    async def stuck_stored_events(platform, experiment_id, after):
        if not release.is_set():
            await asyncio.wait_for(release.wait(), 20)
        return await stored_events(platform, experiment_id, after)

    monkeypatch.setattr(live_route, "_stored_events", stuck_stored_events)
    url = f"{api.ws_url}/ws/experiments/{experiment_id}"

    async def join():
        async with websockets.connect(url) as ws:
            return json.loads(await ws.recv())["seq"]

    async def scenario():
        stuck = [asyncio.ensure_future(join()) for _ in range(JOINS_AT_ONCE)]
        await asyncio.sleep(0.3)  # every slot taken
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await join()
        # The hub's loop is the server's: release the holders there.
        api.platform.hub._task.get_loop().call_soon_threadsafe(release.set)
        return refused.value.response, await asyncio.gather(*stuck), await join()

    response, held, later = asyncio.run(scenario())
    assert response.status_code == 503
    assert json.loads(response.body)["detail"] == guard.JOINS_BUSY
    assert response.headers["Retry-After"] == "5"
    assert (held, later) == ([1] * JOINS_AT_ONCE, 1)
