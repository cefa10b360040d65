"""An external run's calls as the same live events as a worker run's (published through publish_event, so they
are numbered, stored for replay and broadcast to WebSocket clients), and its heartbeat.

Metrics are throttled as worker batches are (events.LIVE_INTERVAL_S per metric key), across every API process,
by one Redis script; the database keeps every value. Each metric's step s is shown as epoch s + 1 (the event's
epochs are 1-based, MLflow's steps usually 0-based); total_epochs 0 means "unknown"."""

import math
import time
from collections.abc import Sequence

import redis

from azuraforge_api.mlflow import protocol
from azuraforge_common import names
from azuraforge_common.events import LIVE_INTERVAL_S, EpochEndEvent, StatusEvent, TrainBeginEvent
from azuraforge_common.models import Experiment
from azuraforge_common.publish import publish_event

# Returns the keys (ARGV[3..]) whose last live value is at least ARGV[2] ms older than ARGV[1], marking them sent.
_THROTTLE_SCRIPT = """
local now, interval, sent = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
for i = 3, #ARGV do
  local last = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if last < 0 or now - last >= interval then
    redis.call('HSET', KEYS[1], ARGV[i], now)
    table.insert(sent, ARGV[i])
  end
end
redis.call('EXPIRE', KEYS[1], 86400)
return sent
"""


def beat(client: redis.Redis, run_id: str, timeout_s: float) -> None:
    """The client is alive: the reaper leaves the run alone for another `timeout_s`."""
    client.set(names.heartbeat_key(run_id), 1, px=int(timeout_s * 1000))


def run_started(client: redis.Redis, run: Experiment) -> None:
    publish_event(client, StatusEvent(experiment_id=run.id, status="running"))
    publish_event(client, TrainBeginEvent(experiment_id=run.id, app=run.app, total_epochs=0, config=run.config))


def metrics_logged(client: redis.Redis, run: Experiment, metrics: Sequence[protocol.Metric]) -> None:
    """Sends the newest value of each metric whose throttle allows it: one epoch_end event per step."""
    newest: dict[str, protocol.Metric] = {}
    for metric in metrics:
        if metric.key not in newest or (metric.step, metric.timestamp) >= (
            newest[metric.key].step,
            newest[metric.key].timestamp,
        ):
            newest[metric.key] = metric
    if not newest:
        return
    now_ms = int(time.time() * 1000)
    allowed = client.eval(
        _THROTTLE_SCRIPT,
        1,
        names.live_metrics_key(run.id),
        now_ms,
        int(LIVE_INTERVAL_S * 1000),
        *newest,
    )
    by_step: dict[int, dict[str, float | None]] = {}
    for key in allowed:
        metric = newest[key.decode() if isinstance(key, bytes) else key]
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
