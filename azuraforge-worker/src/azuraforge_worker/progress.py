"""Live progress: learner events become progress events, published off the training thread.

The training thread only puts events on a queue (microseconds, never a network wait); a background thread
publishes them through `publish_event`, so a slow or restarting Redis never stalls training, and the
publisher gets the interpreter often enough even while training computes (Python switches threads every few
milliseconds and numpy releases the GIL), so events go out as they happen, not all at the end.
"""

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import redis

from azuraforge_common.events import BatchEvent, EpochEndEvent, PredictionsEvent, ProgressEvent, TrainBeginEvent
from azuraforge_common.publish import publish_event
from azuraforge_learner.callbacks import Callback, Logs

log = logging.getLogger(__name__)

BATCH_INTERVAL_S = 0.25
"""At most 4 batch events per second."""
CANCEL_CHECK_INTERVAL_S = 0.25
"""How often (at most) the training thread asks whether to stop: one Redis GET."""

StopRequest = Literal["cancel", "interrupt"]
"""A user's cancel (Learner.cancel) or the worker shutting down (Learner.interrupt)."""


class EventPublisher:
    """Publishes events in order from a background thread; `emit` never blocks.

    While Redis is unreachable (restarting, say) the thread keeps retrying the oldest event and the newer ones
    wait in a bounded buffer, so they reach the stream in order, with no gap, once Redis is back.
    """

    MAX_BUFFERED = 100_000
    """Events kept while Redis is away (a few hundred bytes each); newer ones beyond this are dropped."""
    RETRY_MAX_S = 2.0

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._queue: queue.Queue[ProgressEvent | None] = queue.Queue()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._publish_all, name="azuraforge-events", daemon=True)
        self._thread.start()

    def emit(self, event: ProgressEvent) -> None:
        """Stamps the event with the time it happened and queues it for publishing."""
        if self._queue.qsize() >= self.MAX_BUFFERED:
            log.error("dropped a %s event of %s: Redis has been away too long", event.type, event.experiment_id)
            return
        self._queue.put(event.model_copy(update={"ts": time.time()}))

    def close(self, timeout_s: float = 120.0) -> None:
        """Publishes what is still queued (waiting up to `timeout_s` for Redis), then stops the thread; what is
        left after that is dropped, so nothing can be published after the run's final status."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abandoned.set()
            log.error("dropped %d unpublished events: Redis stayed unreachable", self._queue.qsize())

    def _publish_all(self) -> None:
        while (event := self._queue.get()) is not None and not self._abandoned.is_set():
            self._publish(event)

    def _publish(self, event: ProgressEvent) -> None:
        delay = 0.1
        while not self._abandoned.is_set():
            try:
                publish_event(self._client, event)
                return
            except redis.RedisError as exc:
                log.warning("publishing a %s event failed (%s); retrying in %.1f s", event.type, exc, delay)
                self._abandoned.wait(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)


class RedisProgressCallback(Callback):
    """Turns the learner's hooks into progress events (0-based epochs and batches become 1-based) and stops
    training when `stop_request` asks to: as a cancel or as an interrupt, which the run's stop_reason records."""

    def __init__(
        self,
        experiment_id: str,
        publisher: EventPublisher,
        stop_request: Callable[[], StopRequest | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.experiment_id = experiment_id
        self.publisher = publisher
        self.stop_request = stop_request
        self.clock = clock
        self.total_epochs = 0
        self.total_batches = 0
        self.epoch = 1
        self.started = 0.0
        self.last_batch_event = -math.inf
        self.last_cancel_check = -math.inf

    def on_train_begin(self, logs: Logs) -> None:
        self.total_epochs = int(logs["epochs"])
        self.total_batches = int(logs["batches_per_epoch"])
        self.started = self.clock()
        self.publisher.emit(
            TrainBeginEvent(
                experiment_id=self.experiment_id,
                app=str(logs.get("app", "")),
                total_epochs=self.total_epochs,
                config=dict(logs.get("config", {})),
            )
        )

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        self.epoch = epoch + 1

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        now = self.clock()
        if now - self.last_batch_event >= BATCH_INTERVAL_S:
            self.last_batch_event = now
            self.publisher.emit(
                BatchEvent(
                    experiment_id=self.experiment_id,
                    epoch=self.epoch,
                    batch=batch + 1,
                    total_batches=self.total_batches,
                    loss=float(logs["loss"]),
                )
            )
        self._stop_if_requested(now)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        done = epoch + 1
        elapsed = self.clock() - self.started
        remaining = self.total_epochs - done
        self.publisher.emit(
            EpochEndEvent(
                experiment_id=self.experiment_id,
                epoch=done,
                total_epochs=self.total_epochs,
                metrics=_numbers(logs),
                elapsed_s=elapsed,
                eta_s=elapsed / done * remaining if remaining > 0 else 0.0,
            )
        )
        predictions = logs.get("val_predictions")
        if isinstance(predictions, dict):
            self.publisher.emit(
                PredictionsEvent(
                    experiment_id=self.experiment_id,
                    epoch=done,
                    actual=list(predictions["actual"]),
                    predicted=list(predictions["predicted"]),
                )
            )
        self._stop_if_requested(self.clock())

    def _stop_if_requested(self, now: float) -> None:
        if now - self.last_cancel_check < CANCEL_CHECK_INTERVAL_S:
            return
        self.last_cancel_check = now
        request = self.stop_request()
        if request == "interrupt":
            self.learner.interrupt()
        elif request == "cancel":
            self.learner.cancel()


def _numbers(logs: Logs) -> dict[str, float | None]:
    """Every numeric entry of the epoch's logs (loss, val_loss, metrics), non-finite ones as None."""
    numbers: dict[str, Any] = {}
    for key, value in logs.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers[key] = float(value) if math.isfinite(value) else None
    return numbers
