"""A run whose end could not be recorded (database down, worker gone) is rebuilt from its outcome file."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import RunningAPI, create, make_settings, record, stored_events

from azuraforge_api.reaper import reap_lost_runs
from azuraforge_common import store
from azuraforge_common.lifecycle import WORKER_LOST
from azuraforge_common.outcome import write_outcome

AZURAFORGE = str(Path(sys.executable).parent / "azuraforge")
RESULT = {
    "metrics": {"rmse": 0.1},
    "baseline_metrics": {},
    "history": {"loss": [1.0, 0.5]},
    "artifacts": ["report.md"],
    "result": {"status": "succeeded", "metrics": {"rmse": 0.1}},
}


def running(api):
    experiment = create(api)
    with api.platform.sessions() as session:
        store.transition(session, experiment["id"], ["queued"], "running")
    return experiment["id"]


def test_the_reaper_records_a_lost_run_from_its_outcome_file_instead_of_failing_it(reaping_api):
    api = reaping_api
    finished = running(api)
    write_outcome(api.platform.artifacts, finished, "succeeded", RESULT)

    assert reap_lost_runs(api.platform) == [finished]
    recovered = record(api, finished)
    assert (recovered.status, recovered.error) == ("succeeded", None)
    assert (recovered.history, recovered.metrics) == (RESULT["history"], RESULT["metrics"])
    assert recovered.result == RESULT["result"], "the run record survives in the outcome file"
    final = stored_events(api, finished)[-1]
    assert (final.status, final.final, final.result) == ("succeeded", True, RESULT["result"])


def test_the_reaper_waits_for_heartbeats_after_a_redis_restart(tmp_path, redis_server, redis_client, test_app_path):
    """Redis up for less than a heartbeat's lifetime: a missing heartbeat may just not be rewritten yet."""
    settings = make_settings(tmp_path, redis_server.url, heartbeat_ttl_s=3600, reaper_interval_s=3600)
    with RunningAPI(settings) as api:
        lost = running(api)
        assert reap_lost_runs(api.platform) == []
        assert record(api, lost).status == "running"


def test_recover_rebuilds_the_records_of_lost_runs(reaping_api):
    api = reaping_api
    reaped, still_running, without_outcome = running(api), running(api), running(api)
    write_outcome(api.platform.artifacts, reaped, "succeeded", RESULT)
    with api.platform.sessions() as session:
        store.transition(session, reaped, ["running"], "failed", error=WORKER_LOST)
    write_outcome(api.platform.artifacts, still_running, "failed", {**RESULT, "error": "ValueError: boom"})

    env = {
        **os.environ,
        "AZURAFORGE_DATABASE_URL": api.settings.resolved_database_url,
        "AZURAFORGE_DATA_DIR": str(api.settings.data_dir),
    }
    done = subprocess.run([AZURAFORGE, "recover"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "recovered 2 experiment(s)" in done.stdout
    assert (record(api, reaped).status, record(api, reaped).history) == ("succeeded", RESULT["history"])
    assert (record(api, still_running).status, record(api, still_running).error) == ("failed", "ValueError: boom")
    assert record(api, without_outcome).status == "running"
