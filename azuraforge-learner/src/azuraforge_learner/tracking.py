"""Sending a run to an AzuraForge server from any training loop, with nothing but the standard library:

    with start_run(name="resnet", config={"lr": 0.01}, server="http://host:8000", project="vision") as run:
        for epoch in range(10):
            run.log({"loss": loss}, step=epoch)
        run.log_artifact("model.pt")

It speaks the server's MLflow tracking API, through azuraforge_learner.client (AZURAFORGE_URL and
AZURAFORGE_API_TOKEN when `server` and `token` are not given). Every call is first appended to an on-disk log
(one folder per run under the buffer directory), then sent in order; while the server is unreachable the log
grows and training goes on, and what is pending is sent when the server answers again (also by a later start_run
with the same buffer directory, if this process ends first). Each entry carries its sequence number and the
server applies a given (run, seq) once, so a resend after a lost answer duplicates nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from azuraforge_learner.artifacts import list_files
from azuraforge_learner.callbacks import Callback, Logs
from azuraforge_learner.client import HttpError, PlatformClient, UnreachableError
from azuraforge_learner.pipeline import METRICS_FILE
from azuraforge_learner.record import RunResult

BUFFER_ENV = "AZURAFORGE_TRACKING_BUFFER"
CLIENT_TAG = "azuraforge.client_id"
"""Names the run for this client, so that a create whose answer was lost is found again, not repeated."""
SEQ_TAG = "azuraforge.seq"
PROJECT_TAG = "azuraforge.project"
"""The MLflow experiment tag that puts an experiment (and its runs) in a project, chosen when it is created."""
"""The last entry the server applied; it skips a batch whose seq is not above it."""
RETRY_S = 2.0
"""After a failed send, logging only appends for this long before trying the server again."""
BATCH = 100
"""Params per call (MLflow's limit per batch)."""
_MLFLOW = "/api/2.0/mlflow"
_STATUSES = {"FINISHED", "FAILED", "KILLED"}


class TrackingError(RuntimeError):
    """The server refused an entry (it names what was wrong); the entry is dropped, later ones are still sent."""


class _UnreachableError(Exception):
    """No answer, or one that says to try again later (5xx)."""


def default_buffer_dir() -> Path:
    return Path(os.environ.get(BUFFER_ENV) or Path.home() / ".azuraforge" / "tracking-buffer")


class _RefusedError(Exception):
    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.error_code = error_code


@contextmanager
def _answered() -> Iterator[None]:
    """The platform's answers as this module's: no answer, or one that says to try later (5xx, 429), is
    unreachable; any other error status is a refusal, with MLflow's error code and message."""
    try:
        yield
    except UnreachableError as exc:
        raise _UnreachableError(str(exc)) from exc
    except HttpError as exc:
        if exc.status >= 500 or exc.status == 429:
            raise _UnreachableError(str(exc)) from exc
        problem = exc.json()
        raise _RefusedError(exc.status, problem.get("error_code", ""), problem.get("message") or str(exc)) from exc


def _call(
    server: PlatformClient, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None
) -> Any:
    with _answered():
        return server.json(method, path, body, query) or {}


def _quoted(value: str) -> str:
    """A string literal of MLflow's search filters."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number(value: float) -> float | str:
    """proto3 JSON: the non-finite doubles as strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


class _Log:
    """One run's entries on disk (log.jsonl, appended and fsynced) and how far the server has them (state.json:
    the last seq sent and the byte offset after it, so sending never rereads what is already sent)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.entries = directory / "log.jsonl"
        self.state_file = directory / "state.json"
        self.last_seq = sum(1 for _ in self._lines(0))

    def append(self, entry: dict[str, Any]) -> int:
        self.last_seq += 1
        with self.entries.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"seq": self.last_seq, **entry}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return self.last_seq

    def unsent(self) -> Iterator[tuple[dict[str, Any], int]]:
        """Each entry not sent yet, with the byte offset after it."""
        for line, offset in self._lines(self.state["offset"]):
            yield json.loads(line), offset

    def has_end(self) -> bool:
        return any(json.loads(line)["kind"] == "end" for line, _ in self._lines(0))

    def _lines(self, offset: int) -> Iterator[tuple[bytes, int]]:
        if not self.entries.exists():
            return
        with self.entries.open("rb") as handle:
            handle.seek(offset)
            while line := handle.readline():
                if not line.endswith(b"\n"):
                    return  # a line cut short by a crash while appending: never acknowledged, so not sent
                yield line, handle.tell()

    @property
    def state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {"run_id": None, "sent": 0, "offset": 0}
        loaded: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        return loaded

    def save(self, **changes: Any) -> None:
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(json.dumps({**self.state, **changes}), encoding="utf-8")
        partial.replace(self.state_file)


class Run:
    """A run being sent to the server; make one with start_run."""

    def __init__(self, server: PlatformClient, log: _Log) -> None:
        self._server = server
        self._log = log
        self._failed_at = -math.inf
        self._run_id: str | None = None
        self.finished = False

    @property
    def run_id(self) -> str | None:
        """The server's id for the run (its MLflow run id); None until the server has answered once."""
        if self._log.state_file.exists():
            self._run_id = self._log.state["run_id"]
        return self._run_id

    @property
    def pending(self) -> int:
        """Entries not yet on the server."""
        sent: int = self._log.state["sent"]
        return self._log.last_seq - sent if self._log.directory.exists() else 0

    def log(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Logs these values of metrics at `step` (as mlflow.log_metric does)."""
        timestamp = int(time.time() * 1000)
        values = [
            {"key": key, "value": _number(value), "step": step, "timestamp": timestamp}
            for key, value in metrics.items()
        ]
        self._append({"kind": "metrics", "metrics": values})

    def log_artifact(self, path: str | Path, artifact_path: str = "") -> None:
        """Copies the file into the buffer now (later changes to it are not sent) and uploads it."""
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"log_artifact: {source} is not a file")
        copies = self._log.directory / "files"
        copies.mkdir(exist_ok=True)
        copy = copies / f"{self._log.last_seq + 1}-{source.name}"
        shutil.copyfile(source, copy)
        target = "/".join(part for part in (artifact_path.strip("/"), source.name) if part)
        self._append({"kind": "artifact", "file": copy.name, "path": target})

    def finish(self, status: str = "FINISHED", timeout_s: float = 30.0) -> None:
        """Ends the run (FINISHED, FAILED or KILLED) and waits up to `timeout_s` for the server to have
        everything; what it could not send stays in the buffer, and a later start_run sends it."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {sorted(_STATUSES)}, not {status!r}")
        if self.finished:
            return
        self.finished = True
        self._log.append({"kind": "end", "status": status, "end_time": int(time.time() * 1000)})
        deadline = time.monotonic() + timeout_s
        while not _send_pending(self._server, self._log):
            if time.monotonic() >= deadline:
                print(
                    f"azuraforge tracking: the server at {self._server.url} did not answer; {self.pending} entries "
                    f"wait in {self._log.directory} and are sent by the next start_run",
                    file=sys.stderr,
                )
                return
            time.sleep(min(RETRY_S, max(0.0, deadline - time.monotonic())))
        self._run_id = self.run_id
        shutil.rmtree(self._log.directory, ignore_errors=True)

    def _append(self, entry: dict[str, Any]) -> None:
        if self.finished:
            raise TrackingError("this run has finished; start another one")
        self._log.append(entry)
        if time.monotonic() - self._failed_at >= RETRY_S and not _send_pending(self._server, self._log):
            self._failed_at = time.monotonic()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.finish("FINISHED" if exc is None else "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")


def _send_pending(server: PlatformClient, log: _Log) -> bool:
    """Sends every entry the server does not have yet, in order; False when the server is unreachable."""
    run_id = log.state["run_id"]
    for entry, offset in log.unsent():
        try:
            run_id = _send(server, log, entry, run_id)
        except _UnreachableError:
            return False
        except _RefusedError as exc:
            log.save(sent=entry["seq"], offset=offset)
            raise TrackingError(f"the server refused a {entry['kind']} entry: {exc}") from None
        log.save(run_id=run_id, sent=entry["seq"], offset=offset)
    return True


def _send(server: PlatformClient, log: _Log, entry: dict[str, Any], run_id: str | None) -> str:
    """Sends one entry; returns the run id (new after the start entry)."""
    kind = entry["kind"]
    if kind == "start":
        return _start(server, entry)
    if run_id is None:  # the server refused the start entry (sent first): there is no run to log into
        raise _RefusedError(0, "RESOURCE_DOES_NOT_EXIST", "the server refused to start this run (see the first error)")
    if kind == "metrics":
        tag = {"key": SEQ_TAG, "value": str(entry["seq"])}
        _call(
            server, "POST", f"{_MLFLOW}/runs/log-batch", {"run_id": run_id, "metrics": entry["metrics"], "tags": [tag]}
        )
    elif kind == "artifact":
        path = urllib.parse.quote(f"{run_id}/{entry['path']}")
        data = (log.directory / "files" / entry["file"]).read_bytes()
        with _answered():
            server.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{path}", data, "application/octet-stream")
    elif kind == "end":
        update = {"run_id": run_id, "status": entry["status"], "end_time": entry["end_time"]}
        _call(server, "POST", f"{_MLFLOW}/runs/update", update)
    return run_id


def _start(server: PlatformClient, entry: dict[str, Any]) -> str:
    experiment_id = _experiment(server, entry["experiment"], entry.get("project"))  # buffers of older clients lack it
    client_filter = f"tags.`{CLIENT_TAG}` = {_quoted(entry['client_id'])}"
    found = _call(
        server, "POST", f"{_MLFLOW}/runs/search", {"experiment_ids": [experiment_id], "filter": client_filter}
    )
    if found.get("runs"):
        run_id: str = found["runs"][0]["info"]["run_id"]
    else:
        created = _call(
            server,
            "POST",
            f"{_MLFLOW}/runs/create",
            {
                "experiment_id": experiment_id,
                "run_name": entry["name"],
                "start_time": entry["start_time"],
                "tags": [{"key": CLIENT_TAG, "value": entry["client_id"]}],
            },
        )
        run_id = created["run"]["info"]["run_id"]
    params = [{"key": key, "value": value} for key, value in entry["params"].items()]
    for start in range(0, len(params), BATCH):
        _call(server, "POST", f"{_MLFLOW}/runs/log-batch", {"run_id": run_id, "params": params[start : start + BATCH]})
    return run_id


def _experiment(server: PlatformClient, name: str, project: str | None) -> str:
    """The MLflow experiment `name` (in `project`, if given), made if missing; the server checks the caller may
    read it and, to make it, edit the project."""
    if project is None:
        query = {"experiment_name": name}
        try:
            found = _call(server, "GET", f"{_MLFLOW}/experiments/get-by-name", query=query)["experiment"]
        except _RefusedError as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            found = None
    else:
        search = {"filter": f"name = {_quoted(name)} AND tags.`{PROJECT_TAG}` = {_quoted(project)}", "view_type": "ALL"}
        found = next(iter(_call(server, "POST", f"{_MLFLOW}/experiments/search", search).get("experiments", [])), None)
    if found is not None:
        experiment_id: str = found["experiment_id"]
        return experiment_id
    tags = [] if project is None else [{"key": PROJECT_TAG, "value": project}]
    try:
        created: str = _call(server, "POST", f"{_MLFLOW}/experiments/create", {"name": name, "tags": tags})[
            "experiment_id"
        ]
        return created
    except _RefusedError as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by another client
            raise
        return _experiment(server, name, project)


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Params are strings: nested config fields become dotted keys, values their JSON (strings as they are)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flat(value, f"{name}.")
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def start_run(
    name: str = "",
    config: Mapping[str, Any] | None = None,
    *,
    server: str | None = None,
    experiment: str = "Default",
    project: str | None = None,
    token: str | None = None,
    buffer_dir: Path | None = None,
) -> Run:
    """Starts a run on the server at `server` (else $AZURAFORGE_URL, else a local `azuraforge up`), in the MLflow
    experiment `experiment` of `project` (a project id; made there if missing, which needs the editor role; by
    default the experiment of that name the caller sees, else one made in the default project), with `config` as
    its params. `token`, else $AZURAFORGE_API_TOKEN, is sent. Runs that an earlier process left in `buffer_dir`
    (default $AZURAFORGE_TRACKING_BUFFER or ~/.azuraforge/tracking-buffer) are sent first if the server answers.

    When the server answers and refuses the run (no such project, too low a role), TrackingError says why."""
    connection = PlatformClient.from_env(server, token)
    root = buffer_dir or default_buffer_dir()
    root.mkdir(parents=True, exist_ok=True)
    send_leftovers(connection, root)
    client_id = uuid.uuid4().hex
    log = _Log(root / client_id)
    log.directory.mkdir()
    run = Run(connection, log)
    start = {
        "kind": "start",
        "client_id": client_id,
        "name": name,
        "experiment": experiment,
        "project": project,
        "params": _flat(config or {}),
        "start_time": int(time.time() * 1000),
    }
    try:
        run._append(start)
    except TrackingError:
        shutil.rmtree(log.directory, ignore_errors=True)  # no run to log into: nothing to keep
        raise
    return run


def send_leftovers(server: PlatformClient, root: Path) -> None:
    """One try at sending the runs earlier processes left unsent; those the server now has in full go."""
    for directory in sorted(path for path in root.iterdir() if (path / "log.jsonl").exists()):
        log = _Log(directory)
        try:
            complete = _send_pending(server, log)
        except TrackingError as exc:
            print(f"azuraforge tracking: {exc}", file=sys.stderr)
            complete = True
        if not complete:
            return
        if log.has_end():
            shutil.rmtree(directory, ignore_errors=True)


class TrackingCallback(Callback):
    """A Learner callback that logs each epoch's numbers (loss, metrics, validation) to a tracking run, at step
    epoch (0-based, as the Learner counts)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        numbers = {
            key: float(value)
            for key, value in logs.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        if numbers:
            self.run.log(numbers, step=epoch)


MLFLOW_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}


def send_folder(run: Run, folder: Path) -> None:
    """Uploads every file of a run folder (its report, plots, weights) as the run's artifacts, same paths."""
    for relative in list_files(folder):
        parent, _, _ = relative.rpartition("/")
        run.log_artifact(folder / relative, parent)


def import_folder(folder: Path, server: str | None = None, token: str | None = None, project: str | None = None) -> Run:
    """Sends a finished `azuraforge run` folder as one run: its config as params, its history per epoch, its test
    metrics at the last epoch, its files as artifacts, ended as it ended."""
    try:
        result = RunResult.model_validate_json((folder / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder} is not a finished run folder: its {METRICS_FILE} cannot be read ({exc})") from exc
    run = start_run(
        folder.name, result.plan.config, server=server, experiment=result.plan.app, project=project, token=token
    )
    epochs = max((len(values) for values in result.history.values()), default=0)
    for epoch in range(epochs):
        values = {
            key: value
            for key, series in result.history.items()
            if epoch < len(series) and (value := series[epoch]) is not None
        }
        run.log(values, step=epoch)
    if result.metrics:
        run.log(result.metrics, step=max(epochs - 1, 0))
    send_folder(run, folder)
    run.finish(MLFLOW_STATUS[result.status])
    return run
