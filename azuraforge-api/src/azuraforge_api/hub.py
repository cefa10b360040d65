"""One Redis Pub/Sub connection per API process, fanned out to every WebSocket client.

The hub pattern-subscribes to every experiment's channel once, and hands each event to the bounded queue of
every client watching that experiment (and status events to the clients watching the list). Handing over never
waits: a client whose queue is full is dropped (it reconnects with ?after= and loses nothing), so a slow client
cannot slow the others. Losing Redis drops every client the same way; the hub reconnects by itself.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict

import pydantic
import redis
from redis.asyncio import Redis as AsyncRedis

from azuraforge_api.fanout import FrameWriter, text_frame
from azuraforge_common import names
from azuraforge_common.events import ProgressEvent, StatusEvent, is_final, parse_event

log = logging.getLogger(__name__)

Delivery = tuple[ProgressEvent, str]
"""An event and its JSON text as published: decoded once, and the same text sent to every client."""


class Wake:
    """Put in a subscription's queue by `Subscription.wake`, so its reader stops waiting and checks its deadlines."""


WAKE = Wake()


class Subscription:
    """One client's view of the hub: a bounded queue of deliveries; None in it means the hub dropped it.

    A client that has caught up can be switched to direct writes (`write_directly`): from then on the hub writes
    each event's frame to its connection itself, and the queue only carries its final event (already written:
    the reader closes the connection), wakes and the drop."""

    def __init__(self, experiment_id: str | None, max_pending: int) -> None:
        self.experiment_id = experiment_id
        self.queue: asyncio.Queue[Delivery | Wake | None] = asyncio.Queue(max_pending)
        self.dropped: str | None = None
        self.writer: FrameWriter | None = None
        self.last = 0
        """Under direct writes, the seq of the last event written."""

    def write_directly(self, writer: FrameWriter, last: int) -> None:
        """Hands the client's live events to the hub, after `last`; only with an empty queue, or events queued
        before would be written after newer ones."""
        assert self.queue.empty(), "events still queued for the reader"
        self.writer, self.last = writer, last

    def write(self, delivery: Delivery, frame: bytes) -> None:
        event = delivery[0]
        if self.dropped is not None or self.writer is None or event.seq <= self.last:
            return
        if not self.writer.write(frame):
            return self.drop("too slow to keep up, or closing; reconnect with ?after=<last seq>")
        self.last = event.seq
        if is_final(event):
            self.queue.put_nowait(delivery)

    def wake(self) -> None:
        """Ends the reader's wait without an event (a queue that is not empty needs no waking)."""
        if self.queue.empty():
            self.queue.put_nowait(WAKE)

    def offer(self, delivery: Delivery) -> None:
        if self.dropped is not None:
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.drop("too slow to keep up; reconnect with ?after=<last seq>")

    def drop(self, reason: str) -> None:
        if self.dropped is not None:
            return
        self.dropped = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class EventHub:
    MAX_PENDING = 1000
    """Events one client may lag behind before it is dropped."""

    def __init__(self, client: AsyncRedis) -> None:
        self._client = client
        self._watchers: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._list_watchers: set[Subscription] = set()
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="azuraforge-event-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    def subscribe(self, experiment_id: str | None) -> Subscription:
        """Events of one experiment, or (None) status events of every experiment."""
        subscription = Subscription(experiment_id, self.MAX_PENDING)
        if experiment_id is None:
            self._list_watchers.add(subscription)
        else:
            self._watchers[experiment_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.experiment_id is None:
            self._list_watchers.discard(subscription)
            return
        watchers = self._watchers.get(subscription.experiment_id)
        if watchers is not None:
            watchers.discard(subscription)
            if not watchers:
                del self._watchers[subscription.experiment_id]

    @property
    def subscriptions(self) -> int:
        return len(self._list_watchers) + sum(len(watchers) for watchers in self._watchers.values())

    @property
    def written_directly(self) -> int:
        """Subscriptions whose events the hub writes to their connections itself."""
        return sum(s.writer is not None for watchers in self._watchers.values() for s in watchers)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.psubscribe(names.EVENTS_PATTERN)
                    while True:
                        message = await pubsub.get_message(timeout=5.0)
                        if message is None:
                            continue
                        if message["type"] == "psubscribe":
                            self.connected.set()
                            delay = 0.1
                        elif message["type"] == "pmessage":
                            self._dispatch(message["data"])
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("event hub lost Redis (%s); reconnecting in %.1f s", exc, delay)
            finally:
                self.connected.clear()
                self._drop_everyone("lost the connection to Redis; reconnect with ?after=<last seq>")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _dispatch(self, raw: bytes) -> None:
        try:
            event = parse_event(raw)
        except pydantic.ValidationError:
            log.exception("ignored a message that is not a progress event: %r", raw[:200])
            return
        delivery = (event, raw.decode())
        frame: bytes | None = None
        for subscription in self._watchers.get(event.experiment_id, ()):
            if subscription.writer is None:
                subscription.offer(delivery)
            else:
                frame = frame or text_frame(raw)
                subscription.write(delivery, frame)
        if isinstance(event, StatusEvent):
            for subscription in self._list_watchers:
                subscription.offer(delivery)

    def _drop_everyone(self, reason: str) -> None:
        for subscription in [*self._list_watchers, *(s for watchers in self._watchers.values() for s in watchers)]:
            subscription.drop(reason)
