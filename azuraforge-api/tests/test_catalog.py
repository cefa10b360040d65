"""The API talks to the worker through azuraforge_common only (commands, task names, the app catalog), never its
code nor an app's: it serves and checks the apps from the catalog the worker side publishes, with neither the
worker nor any app importable in its process."""

import json
import os
import subprocess
import sys

from azuraforge_common import names
from azuraforge_common.migrate import upgrade
from azuraforge_common.settings import Settings
from azuraforge_common.worker import catalog_command
from azuraforge_worker import runner

# Run in a fresh interpreter where importing an app package or the worker fails and the plug-in entry-point group is
# empty: it imports every API module, serves the app through FastAPI's test client and reports what it saw.
API_WITHOUT_APPS = """
import importlib, importlib.abc, importlib.metadata, json, sys

BLOCKED = ("azuraforge_app_", "azuraforge_worker")


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith(BLOCKED):
            raise ImportError(f"{name} may not be imported by the API")
        return None


sys.meta_path.insert(0, Blocker())
asked = []
every_entry_point = importlib.metadata.entry_points


def entry_points(**params):
    if params.get("group") == "azuraforge.pipelines":
        asked.append(params)
        return importlib.metadata.EntryPoints(())
    return every_entry_point(**params)


importlib.metadata.entry_points = entry_points

import pkgutil

from fastapi.testclient import TestClient

import azuraforge_api
from azuraforge_api.app import create_app
from azuraforge_common.settings import Settings

for module in pkgutil.walk_packages(azuraforge_api.__path__, "azuraforge_api."):
    importlib.import_module(module.name)

with TestClient(create_app(Settings()), base_url="http://localhost") as client:
    apps = client.get("/api/v1/apps")
    valid = client.post("/api/v1/experiments", json={"app": "sine_test", "config": {"epochs": 1}})
    invalid = client.post("/api/v1/experiments", json={"app": "sine_test", "config": {"epochs": 0, "windw": 3}})
    unknown = client.post("/api/v1/experiments", json={"app": "nope", "config": {}})
seen = {
    "apps": apps.json(),
    "responses": {"valid": [valid.status_code, valid.json()], "invalid": [invalid.status_code, invalid.json()],
                  "unknown": [unknown.status_code, unknown.json()]},
    "imported": sorted(name for name in sys.modules if name.startswith(BLOCKED)),
    "plugins_asked": len(asked),
}
print(json.dumps(seen))
"""


def test_an_api_without_any_app_serves_and_checks_the_apps_a_worker_published(
    tmp_path, redis_server, redis_client, postgres_server, test_app_path
):
    database_url = postgres_server.create_database("catalog")
    upgrade(database_url)
    settings = Settings(redis_url=redis_server.url, database_url=database_url, data_dir=tmp_path / "data")
    environment = {
        **os.environ,
        "AZURAFORGE_REDIS_URL": redis_server.url,
        "AZURAFORGE_DATABASE_URL": database_url,
        "AZURAFORGE_DATA_DIR": str(settings.data_dir),
    }
    with_apps = {**environment, "PYTHONPATH": os.pathsep.join([str(test_app_path), os.environ.get("PYTHONPATH", "")])}
    published = subprocess.run(catalog_command("publisher@test"), env=with_apps, capture_output=True, text=True)
    assert published.returncode == 0, published.stderr
    assert "published 4 apps" in published.stdout

    api = subprocess.run([sys.executable, "-c", API_WITHOUT_APPS], env=environment, capture_output=True, text=True)
    assert api.returncode == 0, api.stderr
    seen = json.loads(api.stdout.splitlines()[-1])
    assert seen["imported"] == []
    assert seen["plugins_asked"] == 0
    apps = {app["name"]: app for app in seen["apps"]}
    assert set(apps) == {"sine_test", "weather-forecaster", "stock-predictor", "image-classifier"}
    assert apps["sine_test"]["published_by"] == "publisher@test"
    assert apps["weather-forecaster"]["defaults"]["epochs"] >= 1
    assert {"val_loss"} <= {metric["name"] for metric in apps["image-classifier"]["epoch_metrics"]}

    status, experiment = seen["responses"]["valid"]
    assert status == 202
    assert (experiment["config"]["epochs"], experiment["config"]["window"]) == (1, 8), "defaults filled in"
    status, invalid = seen["responses"]["invalid"]
    assert status == 422
    locs = sorted(error["loc"] for error in invalid["detail"])
    assert locs == [["body", "config", "epochs"], ["body", "config", "windw"]]
    status, unknown = seen["responses"]["unknown"]
    assert status == 422
    assert "no worker has published it" in unknown["detail"][0]["msg"]

    # The worker's side validates the queued config again with the app's own model and runs it.
    assert sum(redis_client.llen(key) for key in names.task_queue_keys("cpu")) == 1
    services = runner.Services.from_settings(settings)
    try:
        assert runner.run_experiment(services, experiment["id"]) == "succeeded"
    finally:
        services.redis.close()
