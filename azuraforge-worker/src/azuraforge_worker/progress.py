"""Live progress: the pipeline's reports and the learner's batches become progress events, published off the
training thread.

The training thread only puts events on a queue (microseconds, never a network wait); a background thread
publishes them through `publish_once`, so a slow or restarting Redis never stalls training, and the
publisher gets the interpreter often enough even while training computes (Python switches threads every few
milliseconds and numpy releases the GIL), so events go out as they happen, not all at the end.
"""

import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import redis

from azuraforge_common.events import (
    LIVE_INTERVAL_S,
    BatchEvent,
    EpochEndEvent,
    PredictionsEvent,
    ProgressEvent,
    TrainBeginEvent,
    parse_event,
)
from azuraforge_common.publish import publish_once
from azuraforge_learner.callbacks import Callback, Logs
from azuraforge_learner.record import Plan, RunResult
from azuraforge_worker.spool import EventSpool

log = logging.getLogger(__name__)

CANCEL_CHECK_INTERVAL_S = 0.25
"""How often (at most) the training thread asks whether to stop: one Redis GET."""

StopRequest = Literal["cancel", "interrupt"]
"""A user's cancel (Learner.cancel) or the worker shutting down (Learner.interrupt)."""


class EventPublisher:
    """Publishes events in order from a background thread; `emit` never blocks.

    While Redis is unreachable (restarting, say) the thread moves what is emitted into the worker's on-disk
    spool and keeps retrying the oldest spooled event; once Redis is back it publishes the spool in order, then
    publishes directly again. Events still spooled when the worker stops are published when it next starts
    (see azuraforge_worker.tasks). Every event carries this publisher's id and number, so none is published twice.
    """

    RETRY_MAX_S = 2.0

    def __init__(self, client: redis.Redis, spool_path: Path) -> None:
        self._client = client
        self._spool_path = spool_path
        self._id = uuid.uuid4().hex
        self._emitted = 0
        self._queue: queue.Queue[tuple[int, ProgressEvent] | None] = queue.Queue()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._publish_all, name="azuraforge-events", daemon=True)
        self._thread.start()

    def emit(self, event: ProgressEvent) -> None:
        """Stamps the event with the time it happened and queues it for publishing."""
        self._emitted += 1
        self._queue.put((self._emitted, event.model_copy(update={"ts": time.time()})))

    def close(self, timeout_s: float = 120.0) -> None:
        """Publishes what is queued and spooled, waiting up to `timeout_s` for Redis, then stops the thread; what
        is left stays in the spool for the worker's next start."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abandoned.set()
            self._thread.join()

    def _publish_all(self) -> None:
        spool = EventSpool(self._spool_path)
        delay = 0.1
        closing = False
        try:
            while not (closing and spool.size == 0) and not self._abandoned.is_set():
                for item in self._take(wait_s=delay if spool.size else None):
                    if item is None:
                        closing = True
                    elif spool.size or not self._publish(*item):
                        spool.append(self._id, item[0], item[1].model_dump_json())
                if spool.size and self._publish_spooled(spool):
                    delay = 0.1
                elif spool.size:
                    delay = min(delay * 2, self.RETRY_MAX_S)
        finally:
            if spool.size:
                log.warning(
                    "%d events wait in %s for Redis; published when the worker next starts", spool.size, spool.path
                )
            spool.close()

    def _take(self, wait_s: float | None) -> list[tuple[int, ProgressEvent] | None]:
        """Everything queued, after waiting up to `wait_s` (None: as long as it takes) for the first."""
        try:
            items = [self._queue.get(timeout=wait_s)]
        except queue.Empty:
            return []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _publish(self, number: int, event: ProgressEvent) -> bool:
        try:
            publish_once(self._client, event, self._id, number)
            return True
        except redis.RedisError as exc:
            log.warning("publishing a %s event failed (%s); keeping it on disk until Redis is back", event.type, exc)
            return False

    def _publish_spooled(self, spool: EventSpool) -> bool:
        """Publishes the spool oldest first; returns whether it is empty now."""
        while not self._abandoned.is_set() and (entry := spool.oldest()) is not None:
            try:
                publish_once(self._client, parse_event(entry.event), entry.publisher, entry.number)
            except redis.RedisError as exc:
                log.warning("publishing %d spooled events failed (%s); retrying", spool.size, exc)
                return False
            spool.remove(entry.row)
        return spool.size == 0


class RedisReporter:
    """The run's story as progress events: train_begin, epoch_end (with elapsed time and an estimate of the
    rest) and predictions. A Reporter (see azuraforge_learner.reporter)."""

    def __init__(
        self, experiment_id: str, publisher: EventPublisher, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.experiment_id = experiment_id
        self.publisher = publisher
        self.clock = clock
        self.started = 0.0

    def train_begin(self, plan: Plan) -> None:
        self.started = self.clock()
        self.publisher.emit(
            TrainBeginEvent(
                experiment_id=self.experiment_id, app=plan.app, total_epochs=plan.total_epochs, config=plan.config
            )
        )

    def epoch(self, epoch: int, total_epochs: int, metrics: Mapping[str, float]) -> None:
        elapsed = self.clock() - self.started
        remaining = total_epochs - epoch
        self.publisher.emit(
            EpochEndEvent(
                experiment_id=self.experiment_id,
                epoch=epoch,
                total_epochs=total_epochs,
                metrics=_finite(metrics),
                elapsed_s=elapsed,
                eta_s=elapsed / epoch * remaining if remaining > 0 else 0.0,
            )
        )

    def predictions(self, epoch: int, actual: Sequence[float], predicted: Sequence[float]) -> None:
        self.publisher.emit(
            PredictionsEvent(
                experiment_id=self.experiment_id, epoch=epoch, actual=list(actual), predicted=list(predicted)
            )
        )

    def finished(self, result: RunResult) -> None:
        """Nothing to publish: the runner announces the end with the status event, once the record is stored."""


class RedisProgressCallback(Callback):
    """Publishes batch events (0-based epochs and batches become 1-based) and stops training when
    `stop_request` asks to: as a cancel or as an interrupt, which the run's stop_reason records."""

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
        self.total_batches = 0
        self.epoch = 1
        self.last_batch_event = -math.inf
        self.last_cancel_check = -math.inf

    def on_train_begin(self, logs: Logs) -> None:
        self.total_batches = int(logs["batches_per_epoch"])

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        self.epoch = epoch + 1

    def on_batch_end(self, batch: int, logs: Logs) -> None:
        now = self.clock()
        if now - self.last_batch_event >= LIVE_INTERVAL_S:
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


def _finite(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """The epoch's numbers with non-finite ones as None: JSON has no NaN."""
    return {key: value if math.isfinite(value) else None for key, value in metrics.items()}
