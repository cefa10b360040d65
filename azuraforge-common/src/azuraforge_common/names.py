"""Redis keys and channels, the Celery task the API sends to the worker, and the run log's file name."""

PREFIX = "azuraforge"

RUN_EXPERIMENT_TASK = "azuraforge.run_experiment"
"""Celery task name; its only argument is the experiment id."""

DEFAULT_QUEUE = "cpu"
"""The resource class of an experiment whose app and request name none (AZURAFORGE_QUEUES lists the others)."""

PRIORITY_STEPS = (0, 3, 6, 9)
"""Priorities within a queue, on the Redis broker: a worker takes a task of priority 0 before any of 3, and so on."""
PRIORITY_INTERACTIVE = 0
"""A run someone started by hand and waits for."""
PRIORITY_BATCH = 6
"""A trial of a grid or a sweep: it waits behind interactive runs of the same queue."""
PRIORITY_SEPARATOR = ":"


def task_queue(queue: str) -> str:
    """The Celery queue (a Redis list) of the resource class `queue`."""
    return f"{PREFIX}.{queue}"


def task_queue_keys(queue: str) -> list[str]:
    """The Redis lists holding `queue`'s waiting tasks, one per priority step (as kombu names them)."""
    base = task_queue(queue)
    return [base if step == 0 else f"{base}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


HEALTH_KEY = f"{PREFIX}:health"
"""Written by the API's health check to see whether Redis accepts writes."""

EVENTS_PATTERN = f"{PREFIX}:exp:*:events"
"""PSUBSCRIBE pattern matching every experiment's events channel."""

RUN_LOG_FILE = "run.log"
"""Everything a run wrote (logging, stdout, stderr, warnings, its traceback), in the run's folder."""

STREAM_MAXLEN = 10_000

FINISHED_EVENTS_TTL_S = 24 * 3600
"""How long a finished experiment's events stay in Redis; later, watching it is answered from its record."""


def events_channel(experiment_id: str) -> str:
    return f"{PREFIX}:exp:{experiment_id}:events"


def events_stream(experiment_id: str) -> str:
    return f"{PREFIX}:exp:{experiment_id}:stream"


def cancel_key(experiment_id: str) -> str:
    return f"{PREFIX}:exp:{experiment_id}:cancel"


def heartbeat_key(experiment_id: str) -> str:
    return f"{PREFIX}:exp:{experiment_id}:heartbeat"


def seq_key(experiment_id: str) -> str:
    return f"{PREFIX}:exp:{experiment_id}:seq"


def published_key(experiment_id: str) -> str:
    """Hash: publisher id -> the number of the last event it published, so a replayed event is not published
    twice (see publish.publish_once)."""
    return f"{PREFIX}:exp:{experiment_id}:published"


def live_metrics_key(experiment_id: str) -> str:
    """When each metric of an external run was last sent live (a hash: metric key -> unix ms)."""
    return f"{PREFIX}:exp:{experiment_id}:live-metrics"


def sent_key(experiment_id: str) -> str:
    """Set once a sweep trial's task is sent (see azuraforge_common.sweeps)."""
    return f"{PREFIX}:exp:{experiment_id}:sent"


def sweep_lock_key(sweep_id: str) -> str:
    return f"{PREFIX}:sweep:{sweep_id}:lock"


def experiment_keys(experiment_id: str) -> list[str]:
    """Every key an experiment owns in Redis, for deleting it."""
    return [
        events_stream(experiment_id),
        cancel_key(experiment_id),
        heartbeat_key(experiment_id),
        seq_key(experiment_id),
        published_key(experiment_id),
        live_metrics_key(experiment_id),
        sent_key(experiment_id),
    ]


def experiment_id_from_channel(channel: str) -> str:
    """The id inside `azuraforge:exp:{id}:events`."""
    return channel.removeprefix(f"{PREFIX}:exp:").removesuffix(":events")
