import threading
import time

from azuraforge_common import names
from azuraforge_common.events import BatchEvent, StatusEvent, parse_event
from azuraforge_common.publish import publish_event, publish_once, stream_id


def test_events_are_numbered_streamed_and_broadcast(redis_client):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names.events_channel("e1"))
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    before = time.time()
    first = publish_event(redis_client, StatusEvent(experiment_id="e1", status="queued"))
    second = publish_event(redis_client, BatchEvent(experiment_id="e1", epoch=1, batch=1, total_batches=2, loss=1.0))
    assert (first.seq, second.seq) == (1, 2)
    assert before <= first.ts <= second.ts <= time.time()

    stream = redis_client.xrange(names.events_stream("e1"))
    assert [entry_id.decode() for entry_id, _ in stream] == [stream_id(1), stream_id(2)]
    assert [parse_event(fields[b"event"]) for _, fields in stream] == [first, second]

    live = [pubsub.get_message(timeout=1) for _ in range(2)]
    assert [parse_event(message["data"]) for message in live] == [first, second]
    pubsub.close()


def test_after_is_a_stream_range(redis_client):
    for _ in range(5):
        publish_event(redis_client, StatusEvent(experiment_id="e2", status="running"))
    missed = redis_client.xrange(names.events_stream("e2"), min=stream_id(3 + 1))
    assert [parse_event(fields[b"event"]).seq for _, fields in missed] == [4, 5]


def test_concurrent_publishers_never_leave_gaps_or_disorder(redis_client):
    def publish_many():
        for _ in range(50):
            publish_event(redis_client, StatusEvent(experiment_id="e3", status="running"))

    threads = [threading.Thread(target=publish_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stream = redis_client.xrange(names.events_stream("e3"))
    assert [parse_event(fields[b"event"]).seq for _, fields in stream] == list(range(1, 201))
    assert redis_client.get(names.seq_key("e3")) == b"200"


def test_an_event_stamped_when_it_happened_keeps_that_time(redis_client):
    sent = publish_event(redis_client, StatusEvent(experiment_id="e4", status="running", ts=123.5))
    assert sent.ts == 123.5
    ((_, fields),) = redis_client.xrange(names.events_stream("e4"))
    assert parse_event(fields[b"event"]).ts == 123.5


def test_publish_once_publishes_each_numbered_event_of_a_publisher_once(redis_client):
    def batch(n):
        return BatchEvent(experiment_id="once", epoch=1, batch=n, total_batches=9, loss=0.5, ts=1.0)

    assert publish_once(redis_client, batch(1), "publisher-a", 1)
    assert publish_once(redis_client, batch(2), "publisher-a", 2)
    assert not publish_once(redis_client, batch(2), "publisher-a", 2), "a retry after a lost reply"
    assert not publish_once(redis_client, batch(1), "publisher-a", 1), "a replay of what was published"
    assert publish_once(redis_client, batch(1), "publisher-b", 1), "another publisher counts on its own"
    assert publish_once(redis_client, batch(3), "publisher-a", 3)
    stored = [parse_event(fields[b"event"]) for _, fields in redis_client.xrange(names.events_stream("once"))]
    assert [(e.seq, getattr(e, "batch", 0)) for e in stored] == [(1, 1), (2, 2), (3, 1), (4, 3)]
    assert 0 < redis_client.ttl(names.published_key("once")) <= names.FINISHED_EVENTS_TTL_S
