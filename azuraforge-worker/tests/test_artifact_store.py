"""A worker whose artifact store is a bucket on a real S3-protocol server (moto's): files reach the bucket while
the run goes on, the worker keeps nothing on its disk afterwards, and an unreachable store is waited out."""

import json

from conftest import artifact, events, load, queue, wait_for

from azuraforge_common.artifacts import run_key
from azuraforge_common.events import EpochEndEvent
from azuraforge_common.outcome import read_outcome
from azuraforge_worker.runner import Services


def test_a_worker_uploads_the_run_as_it_is_written_and_keeps_no_copy(settings, start_worker, send, s3_store_url):
    on_s3 = settings.model_copy(update={"artifact_store": s3_store_url})
    services = Services.from_settings(on_s3)
    experiment_id = queue(services, {"epochs": 6, "epoch_sleep_s": 0.5})
    start_worker(on_s3)
    send(experiment_id)

    wait_for(lambda: any(isinstance(e, EpochEndEvent) for e in events(services, experiment_id)), 60, "epoch 1")
    wait_for(lambda: artifact(services, experiment_id, "config.json"), 30, "config.json in the bucket mid-run")
    assert load(services, experiment_id).status == "running"
    assert json.loads(artifact(services, experiment_id, "config.json"))["epochs"] == 6

    wait_for(lambda: load(services, experiment_id).status == "succeeded", 60, "the run to end")
    done = load(services, experiment_id)
    stored = {key.removeprefix(run_key(experiment_id)) for key in services.artifacts.keys(run_key(experiment_id))}
    assert set(done.artifacts) <= stored, "every artifact the record lists is in the bucket"
    assert artifact(services, experiment_id, "images/loss.png").startswith(b"\x89PNG")
    outcome = read_outcome(services.artifacts, experiment_id)
    assert outcome is not None
    assert outcome.status == "succeeded"
    assert not (settings.data_dir / "runs" / experiment_id).exists(), "the scratch folder is gone"
    assert not (settings.data_dir / "experiments").exists(), "nothing is written where a local store would be"
    services.redis.close()
