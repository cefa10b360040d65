"""Publishing a progress event: numbered, appended to the experiment's stream and broadcast, in one step.

One Lua script does INCR seq + XADD + PUBLISH atomically (after checking, for `publish_once`, that this
event was not published before), so two publishers of the same experiment (the worker,
and the API when it cancels a queued run or reaps a lost one) can never interleave numbers out of order, and a
subscriber that reads the stream after subscribing misses nothing. Stream entry ids are "{seq}-0", so
XRANGE from "{after + 1}-0" is exactly the events after `after`.
"""

import time
from typing import TypeVar, cast

import redis

from azuraforge_common import names
from azuraforge_common.events import ProgressEvent

E = TypeVar("E", bound=ProgressEvent)

_PUBLISH_SCRIPT = """
if ARGV[4] ~= '' then
  if tonumber(ARGV[5]) <= tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0') then
    return 0
  end
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
local seq = redis.call('INCR', KEYS[1])
local event = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'event', event)
redis.call('PUBLISH', ARGV[3], event)
return seq
"""


def stream_id(seq: int) -> str:
    return f"{seq}-0"


def publish_event(client: redis.Redis, event: E) -> E:
    """Publishes `event` and returns it with its seq, and its ts (now, unless the event already has one: the
    worker stamps events when training hands them over, so ts is when they happened)."""
    stamped = event if event.ts else event.model_copy(update={"ts": time.time()})
    seq = _publish(client, stamped, "", 0)
    return cast(E, stamped.model_copy(update={"seq": seq}))


def publish_once(client: redis.Redis, event: ProgressEvent, publisher: str, number: int) -> bool:
    """Publishes `event`, the `number`th (1, 2, ...) of `publisher`, unless that publisher already published it
    or a later one: a publisher that retries after a lost reply, or replays what it kept on disk, never publishes
    an event twice. Returns whether it published it now."""
    return _publish(client, event, publisher, number) > 0


def _publish(client: redis.Redis, event: ProgressEvent, publisher: str, number: int) -> int:
    experiment_id = event.experiment_id
    seq = client.eval(
        _PUBLISH_SCRIPT,
        3,
        names.seq_key(experiment_id),
        names.events_stream(experiment_id),
        names.published_key(experiment_id),
        event.model_dump_json(exclude={"seq"}),
        names.STREAM_MAXLEN,
        names.events_channel(experiment_id),
        publisher,
        number,
        names.FINISHED_EVENTS_TTL_S,
    )
    return int(seq)
