"""Live progress over WebSocket: replay from the experiment's stream, then forward live events from the hub.

No event is lost or sent twice at the handoff: the client is subscribed to the hub *before* the stream is read,
so every event is in the replay, in the subscription's queue, or both; those at or below the last replayed
sequence number are skipped.

A connection's time limits (a send that does not finish, a wait for events) are deadlines that one task per
connection checks every WATCHDOG_INTERVAL_S, not a timer around every send and wait: with hundreds of clients
watching one run, those timers cost more CPU than the sends themselves, and that CPU is what every event waits
for while training takes the cores.
"""

import time
from collections.abc import Callable
from typing import Annotated, TypeVar, cast

import anyio
import anyio.to_thread
import redis
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from azuraforge_api.auth import Caller, Refusal
from azuraforge_api.errors import DATABASE_DOWN, REDIS_DOWN
from azuraforge_api.fanout import FrameWriter, text_frame
from azuraforge_api.guard import SERVER_SEND, WEBSOCKET_PROTOCOL, admitted, join_slot, refusal
from azuraforge_api.hub import Subscription, Wake
from azuraforge_api.platform import Platform
from azuraforge_common import names, store
from azuraforge_common.events import TERMINAL_STATUSES, StatusEvent, is_final, seq_and_final
from azuraforge_common.publish import stream_id

router = APIRouter(tags=["live"])
T = TypeVar("T")

SEND_TIMEOUT_S = 10.0
"""A client that accepts nothing for this long is disconnected."""
FINAL_GRACE_S = 3.0
"""How long to wait for the final event of an experiment the database already shows as ended."""
IDLE_CHECK_S = 30.0
"""After this long without an event, the record is read again in case the experiment ended unannounced."""
WATCHDOG_INTERVAL_S = 1.0
"""How often a connection's deadlines are checked: each limit above holds to within this."""
REPLAY_WRITE_BYTES = 256 * 1024
"""A replay up to this size is written to the connection at once; a longer one is sent event by event, at the
pace the client takes it."""
TRY_AGAIN_LATER = 1013


class Deadlines:
    """When the connection's current send must have finished, and when its current wait for events ends
    (monotonic seconds; None: not sending, not waiting)."""

    def __init__(self) -> None:
        self.send_by: float | None = None
        self.wake_at: float | None = None


@router.websocket("/ws/experiments/{experiment_id}")
async def watch_experiment(
    websocket: WebSocket,
    experiment_id: str,
    after: Annotated[int, Query(ge=0, le=2**62, description="Send only events with a higher seq.")] = 0,
) -> None:
    """Every stored event of the experiment after `after`, then live ones; closes after the final status event.
    Needs the viewer role in the experiment's project (404 otherwise, as for a missing one)."""
    platform: Platform = websocket.app.state.platform
    caller = await _admitted(platform, websocket)
    if isinstance(caller, JSONResponse):
        return await websocket.send_denial_response(caller)
    try:
        status_now, project_id = await _on_thread(platform, _status_of, platform, experiment_id)
    except SQLAlchemyError:
        return await websocket.send_denial_response(_deny(status.HTTP_503_SERVICE_UNAVAILABLE, DATABASE_DOWN))
    if status_now is None or project_id is None or caller.role(project_id) is None:
        return await websocket.send_denial_response(
            _deny(status.HTTP_404_NOT_FOUND, f"no experiment {experiment_id!r}")
        )
    subscription = platform.hub.subscribe(experiment_id)
    deadlines = Deadlines()
    try:
        await _accept(websocket)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_disconnect, websocket, tasks.cancel_scope)
            tasks.start_soon(_watchdog, deadlines, subscription)
            ended = status_now in TERMINAL_STATUSES
            await _send_events(websocket, platform, subscription, deadlines, after, ended)
            tasks.cancel_scope.cancel()
    except* (WebSocketDisconnect, TimeoutError):
        pass  # the client left, or stopped reading
    except* redis.RedisError:
        await websocket.close(status.WS_1011_INTERNAL_ERROR, "Redis unavailable; reconnect with ?after=<last seq>")
    finally:
        platform.hub.unsubscribe(subscription)


@router.websocket("/ws/experiments")
async def watch_all_experiments(websocket: WebSocket) -> None:
    """Status events of every experiment the caller may see, live (no replay): for lists that update by
    themselves."""
    platform: Platform = websocket.app.state.platform
    caller = await _admitted(platform, websocket)
    join_slot(websocket).release()
    if isinstance(caller, JSONResponse):
        return await websocket.send_denial_response(caller)
    subscription = platform.hub.subscribe(None)
    deadlines = Deadlines()
    projects: dict[str, str | None] = {}  # experiment id -> its project (None: deleted), read once per experiment
    try:
        await _accept(websocket)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_disconnect, websocket, tasks.cancel_scope)
            tasks.start_soon(_watchdog, deadlines, subscription)
            while (delivery := await subscription.queue.get()) is not None:
                if isinstance(delivery, Wake):
                    continue
                experiment_id = delivery[0].experiment_id
                if caller.visible_projects() is not None:
                    if experiment_id not in projects:
                        projects[experiment_id] = (await _on_thread(platform, _status_of, platform, experiment_id))[1]
                    if (project_id := projects[experiment_id]) is None or caller.role(project_id) is None:
                        continue
                await _send(websocket, deadlines, delivery[1])
            await websocket.close(TRY_AGAIN_LATER, subscription.dropped)
            tasks.cancel_scope.cancel()
    except* (WebSocketDisconnect, TimeoutError):
        pass
    finally:
        platform.hub.unsubscribe(subscription)


async def _send_events(
    websocket: WebSocket,
    platform: Platform,
    subscription: Subscription,
    deadlines: Deadlines,
    after: int,
    ended: bool,
) -> None:
    experiment_id = subscription.experiment_id or ""
    last = after
    stored = await _stored_events(platform, experiment_id, after)
    if ended and not stored:
        # Its events expired (names.FINISHED_EVENTS_TTL_S) or were lost with Redis: the record tells the end.
        final = await _on_thread(platform, _final_from_record, platform, experiment_id, last + 1)
        await _send(websocket, deadlines, final.model_dump_json())
        return await websocket.close()
    marks = [seq_and_final(raw) for raw in stored]
    finals = [n for n, (_, final) in enumerate(marks) if final]
    if finals:  # nothing after a final event is sent
        stored, marks = stored[: finals[0] + 1], marks[: finals[0] + 1]
    join_slot(websocket).release()  # what is left is one write, or a long replay at the client's pace
    writer = FrameWriter.of(websocket.scope.get("state", {}).get(SERVER_SEND))
    if writer is not None and sum(map(len, stored)) <= REPLAY_WRITE_BYTES:
        # A short replay goes out as one write of its frames: a watcher joining a run costs one system call,
        # not a send per event, while a crowd of them joins and live events wait for the API.
        if not writer.write(b"".join(map(text_frame, stored))):
            return await _close_dropped(websocket, deadlines, "closing, or too slow to take its replay")
    else:
        for raw in stored:
            await _send(websocket, deadlines, raw.decode())
    if finals:
        return await websocket.close()
    last = marks[-1][0] if marks else last
    while True:
        if writer is not None and subscription.writer is None and subscription.queue.empty():
            subscription.write_directly(writer, last)  # caught up: the hub writes the rest itself
        deadlines.wake_at = time.monotonic() + (FINAL_GRACE_S if ended else IDLE_CHECK_S)
        delivery = await subscription.queue.get()
        deadlines.wake_at = None
        written, last = last, max(last, subscription.last)
        if isinstance(delivery, Wake) and ended:
            # The record says it ended but no final event came (Redis lost it, or the worker died between
            # recording the end and announcing it): say so from the record.
            subscription.writer = None  # nothing may follow the final event
            final = await _on_thread(platform, _final_from_record, platform, experiment_id, last + 1)
            await _send(websocket, deadlines, final.model_dump_json())
            return await websocket.close()
        if isinstance(delivery, Wake):
            if last == written:  # no event since the last look: read the record in case it ended unannounced
                ended = (await _on_thread(platform, _status_of, platform, experiment_id))[0] in TERMINAL_STATUSES
            continue
        if delivery is None:
            return await _close_dropped(websocket, deadlines, subscription.dropped)
        event, text = delivery
        if subscription.writer is not None:  # the hub wrote it: only a final event comes this way
            return await websocket.close()
        if event.seq <= last:
            continue
        await _send(websocket, deadlines, text)
        last = event.seq
        if is_final(event):
            return await websocket.close()


async def _close_dropped(websocket: WebSocket, deadlines: Deadlines, reason: str | None) -> None:
    # A client that reads nothing cannot take the close frame either: the send deadline ends the wait.
    deadlines.send_by = time.monotonic() + SEND_TIMEOUT_S
    await websocket.close(TRY_AGAIN_LATER, reason)


async def _stored_events(platform: Platform, experiment_id: str, after: int) -> list[bytes]:
    entries = await platform.aredis.xrange(names.events_stream(experiment_id), min=stream_id(after + 1))
    return [cast(bytes, fields[b"event"]) for _, fields in entries or [] if fields]


async def _accept(websocket: WebSocket) -> None:
    # A browser that sent its token as a subprotocol needs one of its offers back; never the token's.
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(WEBSOCKET_PROTOCOL if WEBSOCKET_PROTOCOL in offered else None)


async def _send(websocket: WebSocket, deadlines: Deadlines, text: str) -> None:
    deadlines.send_by = time.monotonic() + SEND_TIMEOUT_S
    await websocket.send_text(text)
    deadlines.send_by = None


async def _watchdog(deadlines: Deadlines, subscription: Subscription) -> None:
    """Ends the connection (TimeoutError) when a send overran SEND_TIMEOUT_S: the client stopped reading; wakes
    the reader when its wait for events is over."""
    while True:
        await anyio.sleep(WATCHDOG_INTERVAL_S)
        now = time.monotonic()
        if deadlines.send_by is not None and now > deadlines.send_by:
            raise TimeoutError(f"the client accepted nothing for {SEND_TIMEOUT_S:.0f} s")
        if deadlines.wake_at is not None and now > deadlines.wake_at:
            deadlines.wake_at = None
            subscription.wake()


async def _stop_on_disconnect(websocket: WebSocket, scope: anyio.CancelScope) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
    scope.cancel()


async def _admitted(platform: Platform, websocket: WebSocket) -> Caller | JSONResponse:
    """The caller, by the same credentials as REST calls (never one in the URL), or the answer refusing it."""
    if (refused := refusal(platform.settings, websocket.url.path, websocket.headers)) is not None:
        return refused.response()
    client = websocket.client.host if websocket.client else None
    caller = await admitted(
        platform, "WEBSOCKET", websocket.url.path, websocket.headers, client, threads=platform.live_threads
    )
    if isinstance(caller, Refusal):
        return caller.response()
    if caller is None:  # no WebSocket route is public
        return _deny(status.HTTP_401_UNAUTHORIZED, "not signed in")
    if not platform.hub.connected.is_set():
        return _deny(status.HTTP_503_SERVICE_UNAVAILABLE, REDIS_DOWN)
    return caller


async def _on_thread(platform: Platform, function: Callable[..., T], *args: object) -> T:
    """`function(*args)` on one of the few threads of the live routes (platform.LIVE_THREADS)."""
    return await anyio.to_thread.run_sync(function, *args, limiter=platform.live_threads)


def _deny(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code)


def _status_of(platform: Platform, experiment_id: str) -> tuple[str | None, str | None]:
    """The experiment's status and project, or (None, None) for no such experiment."""
    with platform.sessions() as session:
        return store.status_and_project(session, experiment_id) or (None, None)


def _final_from_record(platform: Platform, experiment_id: str, seq: int) -> StatusEvent:
    with platform.sessions() as session:
        experiment = store.get_experiment(session, experiment_id)
        if experiment is None or experiment.status not in TERMINAL_STATUSES:
            raise RuntimeError(f"experiment {experiment_id} is no longer ended")
        return StatusEvent(
            experiment_id=experiment_id,
            seq=seq,
            ts=experiment.finished_at.timestamp() if experiment.finished_at else 0.0,
            status=experiment.status,  # type: ignore[arg-type]
            error=experiment.error,
            final=True,
            result=experiment.result,
        )
