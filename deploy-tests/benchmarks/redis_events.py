"""How much progress traffic one Redis carries: redis-benchmark against a private redis-server (append-only
file on, as in compose) with one pattern subscriber attached (as one API process's event hub), for

- PUBLISH and XADD of a realistic event alone, and
- the worker's real publish step (azuraforge_common.publish: one Lua script doing INCR + XADD + PUBLISH),

plus the memory each kind of stored event costs in an experiment's stream. Prints a table; run from deploy-tests/:

    ../.venv/bin/python benchmarks/redis_events.py [--requests 200000] [--clients 50]

Everything runs on 127.0.0.1 and stops by itself.
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

import redis

from azuraforge_common import names
from azuraforge_common.events import BatchEvent, EpochEndEvent, PredictionsEvent
from azuraforge_common.processes import die_with_parent, stop_process
from azuraforge_common.publish import _PUBLISH_SCRIPT  # the exact script the worker runs, measured as is
from azuraforge_common.redis_server import RedisServer

EXPERIMENT = "0123456789abcdef0123456789abcdef"
STORED_EVENTS = 2_000


def epoch_event() -> str:
    """An epoch_end of a typical app: loss, val_loss and four metrics with their val_ twins."""
    metric_names = ("loss", "val_loss", "mae", "val_mae", "rmse", "val_rmse", "r2", "val_r2")
    metrics: dict[str, float | None] = dict.fromkeys(metric_names, 0.123456789)
    event = EpochEndEvent(
        experiment_id=EXPERIMENT, epoch=12, total_epochs=50, metrics=metrics, elapsed_s=31.4, eta_s=99.2
    )
    return event.model_dump_json(exclude={"seq"})


def batch_event() -> str:
    event = BatchEvent(experiment_id=EXPERIMENT, epoch=12, batch=40, total_batches=120, loss=0.0123456)
    return event.model_dump_json(exclude={"seq"})


def predictions_event() -> str:
    """The largest event: 200 actual and 200 predicted values, as TimeSeriesPipeline sends at most."""
    values: list[float | None] = [0.1234567890123 * n for n in range(200)]
    event = PredictionsEvent(experiment_id=EXPERIMENT, epoch=12, actual=values, predicted=values[::-1])
    return event.model_dump_json(exclude={"seq"})


def run_benchmark(port: int, requests: int, clients: int, command: list[str]) -> dict[str, str]:
    output = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", str(clients), "--csv", *command],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = output.strip().splitlines()
    # The first column echoes the command unescaped (quotes, commas, newlines): the numbers end the last line.
    columns = [column.strip('"') for column in lines[0].split(",")][1:]
    values = [value.strip('"') for value in lines[-1].rsplit(",", len(columns))[1:]]
    return dict(zip(columns, values, strict=True))


def stream_bytes_per_event(client: redis.Redis, payload: str) -> float:
    stream = names.events_stream("memory-probe")
    client.delete(stream)
    for seq in range(1, STORED_EVENTS + 1):
        client.xadd(stream, {"event": payload}, id=f"{seq}-0", maxlen=names.STREAM_MAXLEN, approximate=True)
    used = client.memory_usage(stream, samples=0)
    client.delete(stream)
    return float(used or 0) / STORED_EVENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000, help="requests per benchmark (default 200000)")
    parser.add_argument("--clients", type=int, default=50, help="parallel connections (default 50)")
    args = parser.parse_args()
    epoch, batch = epoch_event(), batch_event()
    maxlen = str(names.STREAM_MAXLEN)
    benchmarks = {
        "PUBLISH epoch_end": ["PUBLISH", names.events_channel("a"), epoch],
        "XADD epoch_end (MAXLEN ~)": ["XADD", names.events_stream("a"), "MAXLEN", "~", maxlen, "*", "event", epoch],
        # Each on an experiment of its own: the script's stream ids start again at 1-0.
        "publish_event script, batch": [
            "EVAL", _PUBLISH_SCRIPT, "2", names.seq_key("b"), names.events_stream("b"), batch, maxlen,
            names.events_channel("b"),
        ],
        "publish_event script, epoch_end": [
            "EVAL", _PUBLISH_SCRIPT, "2", names.seq_key("c"), names.events_stream("c"), epoch, maxlen,
            names.events_channel("c"),
        ],
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="azuraforge-redis-bench-") as directory:
        server = RedisServer(Path(directory), persistent=True)
        server.start()
        # One pattern subscriber, as each API process has: every PUBLISH is matched and delivered to it.
        subscriber = subprocess.Popen(
            ["redis-cli", "-p", str(server.port), "PSUBSCRIBE", names.EVENTS_PATTERN],
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        client = redis.Redis.from_url(server.url)
        try:
            version = client.info("server")["redis_version"]
            print(f"redis-server {version} on 127.0.0.1, append-only file on, 1 pattern subscriber")
            print(f"event sizes: epoch_end {len(epoch)} B, batch {len(batch)} B; {args.clients} clients\n")
            print(f"{'command':34} {'ops/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
            for name, command in benchmarks.items():
                row = run_benchmark(server.port, args.requests, args.clients, command)
                print(f"{name:34} {float(row['rps']):>9.0f} {row['p50_latency_ms']:>7} {row['p99_latency_ms']:>7}")
            print("\nstream memory per stored event (payload size):")
            for name, payload in (("batch", batch), ("epoch_end", epoch), ("predictions", predictions_event())):
                print(f"  {name:12} {stream_bytes_per_event(client, payload):>7.0f} B  ({len(payload)} B)")
        finally:
            client.close()
            stop_process(subscriber)
            server.stop()


if __name__ == "__main__":
    main()
