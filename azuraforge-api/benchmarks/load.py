"""Load benchmark (not a test): N concurrent experiments, M WebSocket watchers each, on a real `azuraforge up`.

Prints the delay from publish (the event's ts, stamped when training hands it to the worker's publisher thread) to
arrival at each client, for events published while the client was connected (p50, p99, max), then the same for
events published once every client had connected and received its replay (the steady state, without the
connection storm), and how many events clients lost or got twice. The clients run in --client-processes processes
(real watchers are browsers on other machines; one process receiving for 200 of them made its own queue the
delay), each a bare socket with websockets' sans-I/O client. The test app trains CPU-bound by default (no
sleeps), so the figures also show whether the worker's publisher thread is starved by training. It then times the
two ways a training thread could publish: handing an event to EventPublisher (what the worker does) against
publishing it synchronously.

    python benchmarks/load.py --experiments 4 --watchers 25
    python benchmarks/load.py --experiments 2 --watched 1 --watchers 200   # many watchers, both cores training
"""

import argparse
import asyncio
import base64
import concurrent.futures
import json
import multiprocessing
import os
import re
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import redis
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from azuraforge_common import names
from azuraforge_common.events import BatchEvent
from azuraforge_common.processes import die_with_parent, free_port, stop_process, wait_until
from azuraforge_common.publish import publish_event
from azuraforge_common.redis_server import RedisServer
from azuraforge_worker.progress import EventPublisher
from azuraforge_worker.testing import register_test_app


@dataclass
class Watch:
    connected_at: float = 0.0
    seqs: list[int] = field(default_factory=list)
    live_delays: list[tuple[float, float]] = field(default_factory=list)
    """(when the event was published, how long it took to arrive), in seconds: to the client's socket where the
    kernel's receive timestamp is known (`--client raw`), else to the client process reading it."""
    read_delays: list[float] = field(default_factory=list)
    """With `--client raw`: how long each live event took until the client process read it."""
    caught_up_at: float = 0.0
    """When the last event published before the client connected arrived: its replay was over."""

    def record(self, event: dict[str, Any], arrived: float, read_at: float | None = None) -> None:
        """One event that `arrived` (and that the client process read at `read_at`, where that differs)."""
        self.seqs.append(event["seq"])
        if event["ts"] >= self.connected_at:
            self.live_delays.append((event["ts"], arrived - event["ts"]))
            if read_at is not None:
                self.read_delays.append(read_at - event["ts"])
        else:
            self.caught_up_at = arrived if read_at is None else read_at


SO_TIMESTAMPNS = 35
"""Linux's socket option (asm-generic/socket.h) for the kernel's receive time of the data a recvmsg returns;
Python's socket module does not name it. The ancillary data is a struct timespec of two 64-bit fields."""


def receive_timestamped(sock: socket.socket) -> tuple[bytes, float, float]:
    """What the socket has, when the kernel received it (SO_TIMESTAMPNS set) and when it was read."""
    data, ancillary, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(16))
    read_at = time.time()
    arrived = read_at
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = struct.unpack("qq", value[:16])
            arrived = seconds + nanoseconds * 1e-9
    return data, arrived, read_at


class RawWatcher:
    """One watcher on a plain socket that reads the server's frames itself (RFC 6455's unmasked server side: a 2-,
    4- or 10-byte header, then the payload) and answers pings and the close. Each read also returns the kernel's
    receive timestamp, so an event's delay is measured to its arrival at the client's socket: the client
    processes share the 2 cores with training and the API, and their wait for a core (a browser's wait, on a
    machine of its own) is reported apart, as the read delay."""

    def __init__(self, url: str) -> None:
        uri = parse_uri(url)
        self.socket = socket.create_connection((uri.host, uri.port))
        self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            f"GET {uri.resource_name} HTTP/1.1\r\nHost: {uri.host}:{uri.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.socket.setblocking(False)
        self.result = Watch()
        self.buffer = bytearray()
        self.upgraded = False
        self.close_code: int | None = None
        self.failure: str | None = None

    def receive(self) -> bool:
        """Reads what the socket has; False once the connection is over."""
        try:
            data, arrived, read_at = receive_timestamped(self.socket)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.buffer += data
        if not self.upgraded and not self._read_handshake():
            return self.failure is None
        self._read_frames(arrived, read_at)
        return self.failure is None

    def _read_handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
        if not status.startswith(b"HTTP/1.1 101"):
            self.failure = f"the server refused the WebSocket: {status.decode(errors='replace')}"
            return False
        del self.buffer[: end + 4]
        self.upgraded = True
        self.result.connected_at = time.time()
        return True

    def _read_frames(self, arrived: float, read_at: float) -> None:
        buffer, start = self.buffer, 0
        while len(buffer) - start >= 2:
            first, length = buffer[start], buffer[start + 1] & 0x7F
            header = 2 if length < 126 else 4 if length == 126 else 10
            if len(buffer) - start < header:
                break
            if header > 2:
                length = int.from_bytes(buffer[start + 2 : start + header], "big")
            if len(buffer) - start < header + length:
                break
            payload = bytes(buffer[start + header : start + header + length])
            start += header + length
            if not first & 0x80:
                self.failure = "the server fragmented a frame, which this client does not reassemble"
                return
            self._on_frame(first & 0x0F, payload, arrived, read_at)
        del buffer[:start]

    def _on_frame(self, opcode: int, payload: bytes, arrived: float, read_at: float) -> None:
        if opcode == 0x1:
            self.result.record(json.loads(payload), arrived, read_at)
        elif opcode == 0x9:
            self._send(0xA, payload)
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._send(0x8, payload[:2])

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client's frames are masked (RFC 6455 5.3); pongs and the close are short."""
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
        self.socket.setblocking(True)
        self.socket.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)
        self.socket.setblocking(False)

    def outcome(self) -> Watch | str:
        self.socket.close()
        if self.failure is not None:
            return self.failure
        if self.close_code != 1000:
            return f"the server closed the connection: {self.close_code}"
        return self.result


def watch_raw(urls: list[str]) -> list[Watch | str]:
    """Every URL watched at once from this process, with one selector over the sockets."""
    selector = selectors.DefaultSelector()
    watchers = [RawWatcher(url) for url in urls]
    for watcher in watchers:
        selector.register(watcher.socket, selectors.EVENT_READ, watcher)
    open_watchers = len(watchers)
    while open_watchers:
        for key, _ in selector.select():
            watcher = cast(RawWatcher, key.data)
            if not watcher.receive():
                selector.unregister(watcher.socket)
                open_watchers -= 1
    return [watcher.outcome() for watcher in watchers]


class LibraryWatcher(asyncio.Protocol):
    """One watcher on a bare transport with websockets' sans-I/O client, stamping each event's arrival as the
    socket delivers it: a full client library costs ~50 µs a message, and 200 of them sharing the 2 cores with
    training made that cost, not the platform, the measured delay."""

    def __init__(self, url: str, done: asyncio.Future[Watch]) -> None:
        self.connection = ClientProtocol(parse_uri(url))
        self.done = done
        self.result = Watch()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connection.send_request(self.connection.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self.connection.receive_data(data)
        for received in self.connection.events_received():
            if isinstance(received, Response):
                self.result.connected_at = time.time()
            elif isinstance(received, Frame) and received.opcode is Opcode.TEXT:
                self.result.record(json.loads(bytes(received.data)), arrived)
        self._flush()  # pongs, and the answer to the server's close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if self.connection.handshake_exc is not None:
            self.done.set_exception(self.connection.handshake_exc)
        elif (closed := self.connection.close_rcvd) is None or closed.code != 1000:
            self.done.set_exception(RuntimeError(f"the server closed the connection: {closed or exc}"))
        else:
            self.done.set_result(self.result)

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.connection.data_to_send():
            if data:
                self.transport.write(data)
        if self.connection.close_expected():
            self.transport.close()


class RedisTap(threading.Thread):
    """A plain Redis subscriber to the watched run's channel in this (otherwise idle) process, on a socket with
    kernel receive timestamps: when each event reached Redis's subscribers. Against the clients' figures it splits
    a delay into the worker's share (training thread, publisher thread, Redis) and the API's (hub to socket)."""

    def __init__(self, redis_url: str, channel: str) -> None:
        super().__init__(daemon=True)
        address = urllib.parse.urlsplit(redis_url)
        self.socket = socket.create_connection((address.hostname or "127.0.0.1", address.port or 6379))
        self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        name = channel.encode()
        self.socket.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(name), name))
        self.delays: list[float] = []
        self.stopped = False

    def run(self) -> None:
        buffer = b""
        while not self.stopped:
            data, arrived, _ = receive_timestamped(self.socket)
            if not data:
                return
            buffer += data
            # Every reply is an array of bulk strings; an event's JSON is the only one that starts with '{'.
            while (start := buffer.find(b"\r\n{")) >= 0 and (end := buffer.find(b"\r\n", start + 2)) >= 0:
                self.delays.append(arrived - json.loads(buffer[start + 2 : end])["ts"])
                buffer = buffer[end + 2 :]

    def stop(self) -> list[float]:
        self.stopped = True
        self.socket.shutdown(socket.SHUT_RDWR)
        self.join(5)
        return self.delays


async def watch(url: str) -> Watch:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Watch] = loop.create_future()
    uri = parse_uri(url)
    await loop.create_connection(lambda: LibraryWatcher(url, done), uri.host, uri.port)
    return await done


def submit(base: str, experiments: int, config: dict[str, object]) -> list[str]:
    with httpx.Client(base_url=base, timeout=60) as http:
        ids = []
        for n in range(experiments):
            body = {"app": "sine_test", "config": config, "name": f"load {n}"}
            response = http.post("/api/v1/experiments", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
        return ids


def watch_in_process(urls: list[str], client: str) -> tuple[list[Watch | str], float]:
    """One client process: every URL watched at once; what each saw (or its error), and the CPU time spent."""

    async def watch_all() -> list[Watch | BaseException]:
        return await asyncio.gather(*(watch(url) for url in urls), return_exceptions=True)

    started = time.process_time()
    if client == "raw":
        return watch_raw(urls), time.process_time() - started
    results = asyncio.run(watch_all())
    watched = [result if isinstance(result, Watch) else f"{type(result).__name__}: {result}" for result in results]
    return watched, time.process_time() - started


def run_load(urls: list[str], processes: int, client: str) -> tuple[list[Watch | str], float]:
    shares = [urls[n::processes] for n in range(processes)]
    # Forked, so that they start at once (this process has no threads to lose).
    fork = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(len(shares), mp_context=fork) as pool:
        done = list(pool.map(watch_in_process, shares, [client] * len(shares)))
    return [result for results, _ in done for result in results], sum(cpu for _, cpu in done)


def api_process(up: subprocess.Popen[bytes]) -> psutil.Process:
    """The uvicorn child of `azuraforge up`."""
    children = psutil.Process(up.pid).children()
    return next(child for child in children if "uvicorn" in child.cmdline())


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def report_load(results: list[Watch | str], api_cpu_s: float, client_cpu_s: float) -> None:
    watches = [result for result in results if isinstance(result, Watch)]
    failures = [result for result in results if isinstance(result, str)]
    lost = sum(len(set(range(1, max(w.seqs) + 1)) - set(w.seqs)) for w in watches)
    duplicated = sum(len(w.seqs) - len(set(w.seqs)) for w in watches)
    print(f"clients: {len(watches)}, events delivered: {sum(len(w.seqs) for w in watches)}")
    all_caught_up = max(max(watch.connected_at, watch.caught_up_at) for watch in watches)
    where = "client's socket" if any(watch.read_delays for watch in watches) else "client process"
    report_delays(f"live events to the {where}", [delay for watch in watches for _, delay in watch.live_delays])
    report_delays(
        "live events published once every client had connected and had its replay",
        [delay for watch in watches for published, delay in watch.live_delays if published >= all_caught_up],
    )
    if any(watch.read_delays for watch in watches):
        report_delays("live events until the client process read them", [d for w in watches for d in w.read_delays])
    print(f"lost events: {lost}, duplicated events: {duplicated}, clients cut off: {len(failures)}")
    deliveries = sum(len(w.seqs) for w in watches)
    print(
        f"CPU per delivered event: API {api_cpu_s / deliveries * 1e6:.0f} µs, "
        f"clients {client_cpu_s / deliveries * 1e6:.0f} µs (CPU time: less hostage to other jobs than the delays)"
    )
    for failure in sorted(set(failures)):
        print(f"  {failure}")


def report_delays(what: str, delays_s: list[float]) -> None:
    if len(delays_s) < 2:
        return print(f"publish-to-client latency of {what}: too few deliveries")
    delays = [delay * 1000 for delay in delays_s]
    cuts = statistics.quantiles(delays, n=100, method="inclusive")
    print(
        f"publish-to-client latency of {what} (ms): p50 {cuts[49]:.1f}, p99 {cuts[98]:.1f}, "
        f"max {max(delays):.1f} over {len(delays)} deliveries"
    )


def report_handoff(redis_url: str, spool_path: Path, count: int = 2000) -> None:
    client = redis.Redis.from_url(redis_url)
    event = BatchEvent(experiment_id="bench", epoch=1, batch=1, total_batches=1, loss=0.5)
    started = time.perf_counter()
    for _ in range(count):
        publish_event(client, event)
    synchronous = (time.perf_counter() - started) / count
    publisher = EventPublisher(client, spool_path)
    started = time.perf_counter()
    for _ in range(count):
        publisher.emit(event)
    handoff = (time.perf_counter() - started) / count
    publisher.close()
    client.close()
    print(
        f"training-thread cost per event: EventPublisher.emit {handoff * 1e6:.1f} µs, "
        f"synchronous publish {synchronous * 1e6:.0f} µs (localhost Redis)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=4)
    parser.add_argument("--watchers", type=int, default=25, help="WebSocket clients per experiment")
    parser.add_argument("--watched", type=int, help="watch only the first N experiments (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (experiments at once)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rows", type=int, default=20_000, help="size of the test app's series (training work)")
    parser.add_argument("--epoch-sleep", type=float, default=0.0)
    parser.add_argument("--client-processes", type=int, default=4, help="processes the watchers are spread over")
    parser.add_argument(
        "--client",
        choices=["raw", "websockets"],
        default="raw",
        help="plain sockets reading frames by hand, or websockets' client",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="azuraforge-load-") as tmp:
        root = Path(tmp)
        apps = register_test_app(root / "apps")
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("AZURAFORGE_")}
        env |= {"AZURAFORGE_DATA_DIR": str(root / "data"), "PYTHONPATH": str(apps)}
        command = [str(Path(sys.executable).parent / "azuraforge"), "up", "--port", str(port)]
        log = (root / "up.log").open("wb")
        up = subprocess.Popen(
            [*command, "--workers", str(args.workers)], env=env, stdout=log, stderr=log, preexec_fn=die_with_parent
        )
        try:
            wait_until(lambda: b"AzuraForge is running" in (root / "up.log").read_bytes(), 120, "azuraforge up", up)
            watched = args.watched or args.experiments
            config = {"epochs": args.epochs, "rows": args.rows, "epoch_sleep_s": args.epoch_sleep}
            print(
                f"{args.experiments} experiments ({args.workers} at once, {config}), {watched} of them watched "
                f"by {args.watchers} clients each, clients ({args.client}) in {args.client_processes} processes, "
                f"{os.cpu_count()} CPUs"
            )
            api = api_process(up)
            started, api_cpu = time.monotonic(), cpu_seconds(api)
            ids = submit(f"http://127.0.0.1:{port}", args.experiments, config)
            ws = f"ws://127.0.0.1:{port}/ws/experiments"
            urls = [f"{ws}/{id_}" for id_ in ids[:watched] for _ in range(args.watchers)]
            redis_url = re.search(rb"started Redis at (\S+)", (root / "up.log").read_bytes())
            assert redis_url is not None, "azuraforge up did not say where its Redis is"
            tap = RedisTap(redis_url.group(1).decode(), names.events_channel(ids[0]))
            tap.start()
            results, client_cpu = run_load(urls, args.client_processes, args.client)
            tapped = tap.stop()
            api_cpu = cpu_seconds(api) - api_cpu
            print(f"all experiments finished in {time.monotonic() - started:.1f} s")
            report_delays("events to a plain Redis subscriber of the watched run", tapped)
            report_load(results, api_cpu, client_cpu)
        finally:
            stop_process(up, 60)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp), persistent=False) as server:
        report_handoff(server.url, Path(tmp) / "spool.sqlite3")


if __name__ == "__main__":
    main()
