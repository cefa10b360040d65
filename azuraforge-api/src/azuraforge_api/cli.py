"""`azuraforge up`: the whole platform with one command; `azuraforge migrate`: the database schema only;
`azuraforge users create`: an account (the first admin, before anyone can log in).

`up` starts Redis when AZURAFORGE_REDIS_URL is unset (files under the data directory, kept across restarts),
brings the database to the newest schema, then runs the API (uvicorn, serving the dashboard at /), the workers
and the model server (which answers predictions, so that no app code runs in the API) as child processes, and
restarts any of them that exits (with a growing delay if it keeps exiting, and the reason logged). Ctrl-C or
SIGTERM stops them all: workers first (a running experiment stops after its batch and is marked failed,
"interrupted"), then the model server, then the API, then Redis. The children die with it even if it
is killed outright (SIGKILL): they get SIGTERM from the kernel.
"""

import argparse
import getpass
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from types import FrameType
from typing import Any

from azuraforge_api import accounts
from azuraforge_api.doctor import port_free
from azuraforge_api.supervisor import Child
from azuraforge_common import store
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.events import ExperimentStatus
from azuraforge_common.lifecycle import WORKER_LOST
from azuraforge_common.migrate import upgrade
from azuraforge_common.outcome import outcome_ids, read_outcome
from azuraforge_common.processes import die_with_parent, stop_process, thread_counts, wait_until
from azuraforge_common.redis_server import RedisServer
from azuraforge_common.settings import Settings
from azuraforge_common.worker import catalog_command, serve_command, worker_command

WORKER_NICENESS = 5
"""Training yields the CPU to the API and Redis: live events and requests stay fast on a busy machine."""
SERVE_THREADS = 4
"""Predictions the model server computes at once."""
WORKER_STOP_TIMEOUT_S = 30.0
"""A worker stops its experiment after the current batch; a batch longer than this is cut short (SIGKILL)."""


NO_TOKEN_WARNING = """
********************************************************************************
WARNING: AzuraForge listens on {host} WITHOUT an API token or accounts.
Anyone who can reach this machine can start, cancel and delete experiments.
Set AZURAFORGE_API_TOKEN, create a site admin (azuraforge users create NAME --admin),
or listen on 127.0.0.1 only (the default --host).
Without a token, the API answers only to the host names in AZURAFORGE_ALLOWED_HOSTS.
********************************************************************************
"""


def register_up(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="start AzuraForge: API and dashboard, workers, and Redis unless AZURAFORGE_REDIS_URL is set",
        description="Start AzuraForge on this machine. Settings come from AZURAFORGE_* variables "
        "(AZURAFORGE_DATA_DIR, AZURAFORGE_DATABASE_URL, AZURAFORGE_REDIS_URL, AZURAFORGE_API_TOKEN, ...).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface the API listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port of the API and dashboard (default 8000)")
    parser.add_argument("--workers", type=_positive, default=1, help="experiments that can run at once (default 1)")
    parser.set_defaults(handler=up)


def register_migrate(subparsers: Any) -> None:
    parser = subparsers.add_parser("migrate", help="bring the database (AZURAFORGE_DATABASE_URL) to the newest schema")
    parser.set_defaults(handler=migrate)


def register_recover(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "recover",
        help="rebuild the records of finished runs from their outcome files (after a database outage)",
        description="A worker writes each run's outcome (status, metrics, history, artifacts) to "
        "experiments/<id>/outcome.json in the artifact store before recording it in the database. This records "
        "it for runs the database still shows as running, or as failed because their worker was lost.",
    )
    parser.add_argument("experiment_ids", nargs="*", metavar="ID", help="experiments to recover (default: all)")
    parser.set_defaults(handler=recover)


def register_users(subparsers: Any) -> None:
    parser = subparsers.add_parser("users", help="manage accounts (the first admin; admins invite the others)")
    commands = parser.add_subparsers(dest="users_command", required=True)
    create = commands.add_parser(
        "create",
        help="create an account; asks for its password",
        description="Creates an account in the database of AZURAFORGE_DATABASE_URL (or the data directory's). "
        "Once one exists, the API and dashboard need a login or an API token. There is no open registration "
        "and no default password: a site admin creates the other accounts (dashboard, or POST /api/v1/users).",
    )
    create.add_argument("username")
    create.add_argument("--email", default=None)
    create.add_argument("--admin", action="store_true", help="a site admin: sees every project, manages users")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (for scripts)"
    )
    create.set_defaults(handler=create_user)


def create_user(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ; nothing was created", file=sys.stderr)
            return 2
    settings = Settings()
    upgrade(settings.resolved_database_url)
    engine = create_db_engine(settings.resolved_database_url, settings.database_timeout_s)
    try:
        with session_factory(engine)() as session:
            try:
                user = accounts.create_user(session, args.username, password, email=args.email, admin=args.admin)
            except accounts.AccountError as exc:
                print(f"error: {exc}; nothing was created", file=sys.stderr)
                return 2
            accounts.audit(session, "cli", "user.create", user.username, admin=user.admin)
            session.commit()
    finally:
        engine.dispose()
    kind = "site admin" if args.admin else "user"
    print(f"created {kind} {user.username}; log in at the dashboard, or POST /api/v1/auth/login")
    return 0


def migrate(args: argparse.Namespace) -> int:
    upgrade(Settings().resolved_database_url)
    print("database schema is up to date")
    return 0


def recover(args: argparse.Namespace) -> int:
    settings = Settings()
    engine = create_db_engine(settings.resolved_database_url, settings.database_timeout_s)
    try:
        with session_factory(engine)() as session:
            artifacts = settings.artifacts()
            ids = args.experiment_ids or outcome_ids(artifacts)
            recovered = 0
            for experiment_id in ids:
                experiment = store.get_experiment(session, experiment_id)
                outcome = read_outcome(artifacts, experiment_id)
                if experiment is None or outcome is None:
                    print(f"{experiment_id}: no record or no outcome file; nothing to recover", file=sys.stderr)
                    continue
                was: ExperimentStatus = "failed" if experiment.error == WORKER_LOST else "running"
                if store.transition(session, experiment_id, [was], outcome.status, **outcome.fields):
                    print(f"{experiment_id}: recorded {outcome.status} (was {was})")
                    recovered += 1
        print(f"recovered {recovered} experiment(s)")
        return 0
    finally:
        engine.dispose()


def up(args: argparse.Namespace) -> int:
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    if settings.api_token is None and not _is_loopback(args.host) and not _accounts_exist(settings):
        print(NO_TOKEN_WARNING.format(host=args.host), file=sys.stderr, flush=True)
    if not port_free(args.host, args.port):
        print(f"error: port {args.port} on {args.host} is in use; choose another with --port", file=sys.stderr)
        return 2
    embedded_redis: RedisServer | None = None
    children: list[Child] = []
    api: Child | None = None
    workers: list[Child] = []
    model_server: Child | None = None
    try:
        redis_url = settings.redis_url
        if redis_url is None:
            redis_server = embedded_redis = RedisServer(settings.data_dir / "redis", persistent=True)
            children.append(Child("Redis", lambda: _start_redis(redis_server)))
            redis_url = embedded_redis.url
            print(f"started Redis at {redis_url} (files in {embedded_redis.directory})", flush=True)
        env = {
            **os.environ,
            "AZURAFORGE_REDIS_URL": redis_url,
            "AZURAFORGE_DATABASE_URL": settings.resolved_database_url,
            "AZURAFORGE_DATA_DIR": str(settings.data_dir),
        }
        # The API serves the apps from the catalog: publish them before it starts (its children then need not).
        if subprocess.run(catalog_command(f"up@{socket.gethostname()}"), env=env, check=False).returncode != 0:
            print("error: could not publish the installed apps (see above)", file=sys.stderr)
            return 2
        api = Child("the API", lambda: _spawn(_api_command(args.host, args.port), env))
        worker_env = env | thread_counts(args.workers, env)
        workers = [Child(f"worker {n}", _worker_starter(n, worker_env)) for n in range(1, args.workers + 1)]
        model_server = Child("the model server", lambda: _spawn(serve_command(SERVE_THREADS, catalog=False), env))
        children += [api, *workers, model_server]
        url = f"http://{'localhost' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
        wait_until(lambda: _answers(url) or stop_requested.is_set(), 60, f"the API at {url}", api.process)
        if not stop_requested.is_set():
            print(f"AzuraForge is running at {url}  (API docs: {url}/docs; Ctrl-C stops it)", flush=True)
        # Until Ctrl-C or SIGTERM: a child that exits is restarted (a worker's experiment is failed by the reaper).
        while not stop_requested.wait(0.5):
            for child in children:
                child.check()
        return 0
    finally:
        for worker in workers:
            worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            stop_process(worker.process, WORKER_STOP_TIMEOUT_S)
        if model_server is not None:
            stop_process(model_server.process)
        if api is not None:
            stop_process(api.process)
        if embedded_redis is not None:
            embedded_redis.stop()
        print("AzuraForge stopped", flush=True)


def _worker_starter(n: int, env: dict[str, str]) -> Callable[[], subprocess.Popen[bytes]]:
    return lambda: _spawn(worker_command(f"worker{n}", catalog=False), env, WORKER_NICENESS)


def _start_redis(server: RedisServer) -> subprocess.Popen[bytes]:
    server.start()
    assert server.process is not None
    return server.process


def _api_command(host: str, port: int) -> list[str]:
    # No permessage-deflate: it compresses every event once per client, which with many watchers cost more
    # CPU than sending; events are small, and the same text goes to every client.
    return [
        sys.executable, "-m", "uvicorn", "azuraforge_api.app:create_app", "--factory",
        "--host", host, "--port", str(port), "--timeout-graceful-shutdown", "5", "--no-access-log",
        "--ws-per-message-deflate", "false",
    ]  # fmt: skip


def _spawn(command: list[str], env: dict[str, str], niceness: int = 0) -> subprocess.Popen[bytes]:
    def prepare() -> None:
        die_with_parent()
        os.nice(niceness)

    # A session of its own: Ctrl-C reaches only `up`, which stops the children in order.
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=prepare)


def _accounts_exist(settings: Settings) -> bool:
    """Once one exists the API needs a login or a token, even without AZURAFORGE_API_TOKEN."""
    engine = create_db_engine(settings.resolved_database_url, settings.database_timeout_s)
    try:
        with session_factory(engine)() as session:
            return accounts.any_user(session)
    finally:
        engine.dispose()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 401 (a token is required) or 503: the API is up and answering
    except OSError:
        return False


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value}")
    return number
