"""Publishing a progress event: numbered, appended to the experiment's stream and broadcast, in one step.

One Lua script does INCR seq + XADD + PUBLISH atomically, so two publishers of the same experiment (the worker,
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
    experiment_id = event.experiment_id
    seq = client.eval(
        _PUBLISH_SCRIPT,
        2,
        names.seq_key(experiment_id),
        names.events_stream(experiment_id),
        stamped.model_dump_json(exclude={"seq"}),
        names.STREAM_MAXLEN,
        names.events_channel(experiment_id),
    )
    return cast(E, stamped.model_copy(update={"seq": int(seq)}))
