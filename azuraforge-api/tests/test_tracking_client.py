"""AzuraForge's own tracking client (azuraforge_learner.tracking, standard library only) against the API: a run
logged from a loop, buffered on disk while the server is away, resent without duplicates, and the CLI's
`azuraforge run --server` and `azuraforge import`."""

import json

import pytest
from conftest import RunningAPI, record

from azuraforge_learner.cli import main
from azuraforge_learner.tracking import TrackingError, start_run

MLFLOW = "/api/2.0/mlflow"


def history(api, run_id, key="loss"):
    page = api.http.get(f"{MLFLOW}/metrics/get-history", params={"run_id": run_id, "metric_key": key}).json()
    return [(metric["step"], metric["value"]) for metric in page.get("metrics", [])]


def test_a_loop_logs_metrics_params_and_an_artifact(api, tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01weights")
    with start_run("loop", {"lr": 0.01, "model": {"layers": 2}}, server=api.url, buffer_dir=tmp_path / "buffer") as run:
        for step in range(4):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 4}, step=step)
        run.log_artifact(weights, "model")
    assert run.pending == 0
    ended = record(api, run.run_id)
    assert (ended.status, ended.app, ended.name, ended.source) == ("succeeded", "Default", "loop", "external")
    assert ended.config == {"lr": "0.01", "model.layers": "2"}
    assert ended.history["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert "model/weights.bin" in ended.artifacts
    downloaded = api.http.get(f"/api/v1/experiments/{run.run_id}/artifacts/model/weights.bin")
    assert downloaded.content == b"\x00\x01weights"
    assert list((tmp_path / "buffer").iterdir()) == []  # everything sent: nothing kept


def test_an_exception_in_the_block_ends_the_run_failed(api, tmp_path):
    run = start_run("broken", server=api.url, buffer_dir=tmp_path / "buffer")

    def train():
        with run:
            run.log({"loss": 1.0})
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        train()
    assert record(api, run.run_id).status == "failed"


def test_entries_wait_on_disk_while_the_server_is_away_and_arrive_in_order_once(settings, redis_client, tmp_path):
    api = RunningAPI(settings)  # its port is chosen, nothing listens there yet
    run = start_run("offline", {"epochs": 6}, server=api.url, buffer_dir=tmp_path / "buffer")
    for step in range(6):
        run.log({"loss": 10.0 - step}, step=step)
    assert run.run_id is None
    assert run.pending == 7  # the start and six metric entries
    with api:
        run.finish(timeout_s=30)
        assert run.pending == 0
        assert history(api, run.run_id) == [(step, 10.0 - step) for step in range(6)]
        assert record(api, run.run_id).status == "succeeded"


def test_a_resend_after_lost_answers_duplicates_nothing(api, tmp_path):
    run = start_run("resend", server=api.url, buffer_dir=tmp_path / "buffer")
    run.log({"loss": 1.0}, step=0)
    state_file = next((tmp_path / "buffer").iterdir()) / "state.json"
    acknowledged = state_file.read_text()
    run.log({"loss": 0.5}, step=1)
    run.log({"loss": 0.25}, step=2)
    # The server applied the last two, but (as if their answers were lost) the client does not know it.
    state_file.write_text(acknowledged)
    run.finish()
    assert history(api, run.run_id) == [(0, 1.0), (1, 0.5), (2, 0.25)]


def test_an_entry_the_server_refuses_is_reported_and_the_rest_still_go(api, tmp_path):
    run = start_run("refused", server=api.url, buffer_dir=tmp_path / "buffer")
    with pytest.raises(TrackingError, match="INVALID_PARAMETER_VALUE"):
        run.log({"../escape": 1.0})
    run.log({"loss": 0.5})
    run.finish()
    assert history(api, run.run_id) == [(0, 0.5)]


def cli(capsys, *args):
    """The `azuraforge` command, run in this process (a new interpreter would spend most of the test importing)."""
    assert main(list(args)) == 0, capsys.readouterr().err[-3000:]
    return capsys.readouterr().out


def test_the_cli_sends_a_local_run_live_and_imports_a_finished_folder(api, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AZURAFORGE_TRACKING_BUFFER", str(tmp_path / "buffer"))
    out = tmp_path / "local"
    assert main(["run", "sine_test", "--project", "default"]) == 2  # where to? --project needs --server
    assert "give --server URL too" in capsys.readouterr().err
    printed = cli(
        capsys, "run", "sine_test", "--set", "epochs=3", "--out", str(out), "--server", api.url, "--project", "default"
    )
    run_id = printed.strip().splitlines()[-1].rsplit(" ", 1)[1]
    local = json.loads((out / "metrics.json").read_text())
    sent = record(api, run_id)
    assert (sent.status, sent.app, sent.source) == ("succeeded", "sine_test", "external")
    assert sent.history["loss"] == pytest.approx(local["history"]["loss"])
    assert {"report.md", "metrics.json"} <= set(sent.artifacts)

    monkeypatch.setenv("AZURAFORGE_URL", api.url)  # the one setting every client reads
    printed = cli(capsys, "import", str(out))
    imported = record(api, printed.strip().rsplit(" ", 1)[1])
    assert (imported.status, imported.name) == ("succeeded", "local")
    assert imported.history["loss"] == pytest.approx(local["history"]["loss"])
    assert set(local["metrics"]) <= set(imported.metrics)
    params = {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in local["plan"]["config"].items()
    }
    assert imported.config == params
