"""RedisReporter and RedisProgressCallback on a real pipeline run, publishing to a real Redis."""

import itertools
from typing import cast

import pytest
import redis
from conftest import events, wait_for

from azuraforge_common import names
from azuraforge_common.events import (
    BatchEvent,
    EpochEndEvent,
    PredictionsEvent,
    ProgressEvent,
    StatusEvent,
    TrainBeginEvent,
    parse_event,
)
from azuraforge_common.redis_server import RedisServer
from azuraforge_learner.plugins import load_pipeline
from azuraforge_worker.progress import EventPublisher, RedisProgressCallback, RedisReporter
from azuraforge_worker.testing import TEST_APP


def run_with_progress(services, tmp_path, config, stop_request=lambda: None, clock=None):
    publisher = EventPublisher(services.redis, services.spool_path)
    kwargs = {"clock": clock} if clock else {}
    callback = RedisProgressCallback("exp", publisher, stop_request, **kwargs)
    reporter = RedisReporter("exp", publisher, **kwargs)
    try:
        pipeline = load_pipeline(TEST_APP)()
        result = pipeline.run(config, callbacks=[callback], output_dir=tmp_path / "out", reporters=[reporter])
    finally:
        publisher.close()
    return result, events(services, "exp")


def test_events_follow_training_in_order(services, tmp_path):
    result, published = run_with_progress(services, tmp_path, {"epochs": 3, "live_predictions": True})
    assert result.status == "succeeded"
    assert [event.seq for event in published] == list(range(1, len(published) + 1))
    begin = published[0]
    assert isinstance(begin, TrainBeginEvent)
    assert (begin.app, begin.total_epochs, begin.config["epochs"]) == (TEST_APP, 3, 3)

    epochs = [event for event in published if isinstance(event, EpochEndEvent)]
    assert [event.epoch for event in epochs] == [1, 2, 3]
    assert {"loss", "val_loss", "mae", "val_mae"} <= set(epochs[0].metrics)
    assert [event.metrics["loss"] for event in epochs] == result.history["loss"]
    assert epochs[-1].eta_s == 0.0
    assert epochs[0].eta_s is not None
    assert epochs[0].eta_s > 0
    assert all(a.elapsed_s <= b.elapsed_s for a, b in itertools.pairwise(epochs))

    predictions = [event for event in published if isinstance(event, PredictionsEvent)]
    assert [event.epoch for event in predictions] == [1, 2, 3]
    assert 0 < len(predictions[0].actual) == len(predictions[0].predicted) <= 200

    batches = [event for event in published if isinstance(event, BatchEvent)]
    assert batches, "the first batch is always reported"
    assert batches[0].epoch == 1
    assert batches[0].batch == 1
    assert all(1 <= event.batch <= event.total_batches for event in batches)


def test_batch_events_are_throttled_to_four_per_second(services, tmp_path):
    ticks = itertools.count()
    # Every reading of the clock advances it by 0.1 s, so a batch event is due every third batch at most.
    _, published = run_with_progress(services, tmp_path, {"epochs": 2}, clock=lambda: next(ticks) * 0.1)
    batches = [event for event in published if isinstance(event, BatchEvent)]
    all_batches = 2 * batches[0].total_batches
    assert 0 < len(batches) < all_batches / 2


@pytest.mark.parametrize(
    ("request_", "status", "kind"), [("cancel", "cancelled", "cancelled"), ("interrupt", "cancelled", "interrupted")]
)
def test_a_stop_request_stops_training_with_its_reason(services, tmp_path, request_, status, kind):
    asked, ticks = itertools.count(), itertools.count()
    result, published = run_with_progress(
        services,
        tmp_path,
        {"epochs": 5},
        stop_request=lambda: request_ if next(asked) >= 1 else None,
        clock=lambda: next(ticks) * 0.1,
    )
    assert (result.status, result.stop_reason.kind) == (status, kind)
    assert result.epochs_completed < 5
    assert (tmp_path / "out" / "report.md").is_file(), "a stopped run keeps what it produced"
    assert len([event for event in published if isinstance(event, EpochEndEvent)]) == result.epochs_completed


def test_events_emitted_while_redis_is_away_are_published_in_order_when_it_returns(tmp_path, caplog):
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    publisher = EventPublisher(client, tmp_path / "spool.sqlite3")
    emit: list[ProgressEvent] = [StatusEvent(experiment_id="exp", status="running")]
    emit += [BatchEvent(experiment_id="exp", epoch=1, batch=n, total_batches=20, loss=1.0) for n in range(1, 21)]
    try:
        for event in emit[:5]:
            publisher.emit(event)
        wait_for(lambda: client.xlen(names.events_stream("exp")) == 5, 30, "the first events")
        server.stop()
        for event in emit[5:]:
            publisher.emit(event)
        # Longer than any fixed number of quick retries: the publisher must keep trying, not drop.
        wait_for(lambda: caplog.text.count("spooled events failed") >= 6, 60, "six failed attempts")
        server.start()
        publisher.close()
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(names.events_stream("exp")))
    finally:
        client.close()
        server.stop()
    stored = [parse_event(fields[b"event"]) for _, fields in entries]
    assert [e.seq for e in stored] == list(range(1, 22))
    assert [getattr(e, "batch", 0) for e in stored] == list(range(21))
