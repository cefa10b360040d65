"""A worker whose artifact store is a bucket on a real S3-protocol server (moto's): files reach the bucket while
the run goes on, and the worker keeps nothing on its disk afterwards. (Workers in processes of their own, on
hosts of their own, write to the bucket in the API's test_hosts.)"""

import json
import threading

from conftest import artifact, load, queue, wait_for

from azuraforge_common.artifacts import run_key
from azuraforge_common.outcome import read_outcome
from azuraforge_worker import runner


def test_a_worker_uploads_the_run_as_it_is_written_and_keeps_no_copy(services, s3_store_url):
    on_s3 = runner.Services.from_settings(services.settings.model_copy(update={"artifact_store": s3_store_url}))
    experiment_id = queue(on_s3, {"epochs": 8, "epoch_sleep_s": 0.5})
    ended: list[object] = []
    worker = threading.Thread(target=lambda: ended.append(runner.run_experiment(on_s3, experiment_id)))
    worker.start()

    wait_for(lambda: artifact(on_s3, experiment_id, "config.json"), 30, "config.json in the bucket mid-run")
    assert load(on_s3, experiment_id).status == "running"
    assert json.loads(artifact(on_s3, experiment_id, "config.json"))["epochs"] == 8

    worker.join(60)
    assert ended == ["succeeded"]
    done = load(on_s3, experiment_id)
    stored = {key.removeprefix(run_key(experiment_id)) for key in on_s3.artifacts.keys(run_key(experiment_id))}
    assert set(done.artifacts) <= stored, "every artifact the record lists is in the bucket"
    assert artifact(on_s3, experiment_id, "images/loss.png").startswith(b"\x89PNG")
    outcome = read_outcome(on_s3.artifacts, experiment_id)
    assert outcome is not None
    assert outcome.status == "succeeded"
    data_dir = services.settings.data_dir
    assert not (data_dir / "runs" / experiment_id).exists(), "the scratch folder is gone"
    assert not (data_dir / "experiments").exists(), "nothing is written where a local store would be"
    on_s3.redis.close()
