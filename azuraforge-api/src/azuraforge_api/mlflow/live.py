"""An external run's calls as the same live events as a worker run's (published through publish_event, so they
are numbered, stored for replay and broadcast to WebSocket clients), and its heartbeat.

Metrics are throttled as worker batches are (events.LIVE_INTERVAL_S per metric key), across every API process,
by one Redis script; the database keeps every value. Each metric's step s is shown as epoch s + 1 (the event's
epochs are 1-based, MLflow's steps usually 0-based); total_epochs 0 means "unknown"."""

import math
import time
from collections.abc import Sequence

import redis

from azuraforge_api.mlflow import protocol, store
from azuraforge_common import names
from azuraforge_common.events import LIVE_INTERVAL_S, EpochEndEvent, StatusEvent, TrainBeginEvent
from azuraforge_common.models import Experiment
from azuraforge_common.publish import publish_event

# Writes are what cost: each one grows Redis's append-only file, and Redis serves every
# client from one thread. A client logging each batch must not write per call:
# its heartbeat is renewed once it has aged a second (a tenth of a short timeout), and a metric's throttle stamp
# only when its value is sent live.
_BEAT = """
local function beat(key, ttl)
  if redis.call('PTTL', key) < ttl - math.min(1000, ttl / 10) then
    redis.call('SET', key, 1, 'PX', ttl)
  end
end
"""
# KEYS: heartbeat, throttle hash. ARGV: heartbeat ms, now ms, interval ms, metric keys... Returns the metric keys
# whose last live value is at least the interval older than now, stamping them sent.
_LOGGED = (
    _BEAT
    + """
beat(KEYS[1], tonumber(ARGV[1]))
local now, interval, sent = tonumber(ARGV[2]), tonumber(ARGV[3]), {}
for i = 4, #ARGV do
  local last = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '-1')
  if last < 0 or now - last >= interval then
    redis.call('HSET', KEYS[2], ARGV[i], now)
    table.insert(sent, ARGV[i])
  end
end
if #sent > 0 then
  redis.call('EXPIRE', KEYS[2], 86400)
end
return sent
"""
)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def beat(client: redis.Redis, run_id: str, timeout_s: float) -> None:
    """The client is alive: the reaper leaves the run alone for another `timeout_s` (less the renewal's slack)."""
    client.register_script(_BEAT + "beat(KEYS[1], tonumber(ARGV[1]))")(
        keys=[names.heartbeat_key(run_id)], args=[_ms(timeout_s)]
    )


def run_started(client: redis.Redis, run: Experiment) -> None:
    publish_event(client, StatusEvent(experiment_id=run.id, status="running"))
    publish_event(client, TrainBeginEvent(experiment_id=run.id, app=run.app, total_epochs=0, config=run.config))


def logged(client: redis.Redis, run: Experiment, metrics: Sequence[protocol.Metric], timeout_s: float) -> None:
    """A logging call on a running run: its client's heartbeat, and one epoch_end event per step for the newest
    value of each metric whose throttle allows it. One Redis call, which writes only when something is due."""
    latest = store.newest(metrics)
    allowed = client.register_script(_LOGGED)(
        keys=[names.heartbeat_key(run.id), names.live_metrics_key(run.id)],
        args=[_ms(timeout_s), _ms(time.time()), _ms(LIVE_INTERVAL_S), *latest],
    )
    by_step: dict[int, dict[str, float | None]] = {}
    for key in allowed:
        metric = latest[key.decode() if isinstance(key, bytes) else key]
        by_step.setdefault(metric.step, {})[metric.key] = metric.value if math.isfinite(metric.value) else None
    started = (run.started_at or run.created_at).timestamp()
    for step, values in sorted(by_step.items()):
        publish_event(
            client,
            EpochEndEvent(
                experiment_id=run.id,
                epoch=max(step, 0) + 1,
                total_epochs=0,
                metrics=values,
                elapsed_s=max(0.0, time.time() - started),
                eta_s=None,
            ),
        )
