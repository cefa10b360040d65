import json

import pytest

from azuraforge_learner import AppLoadError, BasePipeline, UnknownAppError, discover_pipelines, load_pipeline
from azuraforge_learner.plugins import describe_installed


def test_installed_apps_are_discovered_and_broken_ones_reported_without_hiding_the_others(test_apps):
    pipelines, errors = discover_pipelines()
    for name in ("sine", "failing", "blobs"):
        assert issubclass(pipelines[name], BasePipeline)
    assert pipelines["sine"].__name__ == "SineForecaster"
    broken = {error.name: error.error for error in errors}
    assert "broken" not in pipelines
    assert "not_a_pipeline" not in pipelines
    assert "ImportError: broken_app needs the module nonexistent_dependency" in broken["broken"]
    assert "broken_app:Pipeline" in broken["broken"]
    assert "not a BasePipeline subclass" in broken["not_a_pipeline"]


def test_load_pipeline_finds_one_app_or_says_which_exist(test_apps):
    assert load_pipeline("sine").name == "sine"
    with pytest.raises(UnknownAppError) as caught:
        load_pipeline("snie")
    assert isinstance(caught.value, LookupError)
    assert "no app named 'snie' is installed" in str(caught.value)
    assert "sine" in caught.value.installed
    assert "blobs" in caught.value.installed
    with pytest.raises(AppLoadError, match="nonexistent_dependency"):
        load_pipeline("broken")


def test_apps_disappear_with_their_distribution():
    pipelines, _ = discover_pipelines()
    assert "sine" not in pipelines


def test_describing_the_installed_apps_gives_json_for_the_catalog_and_keeps_the_broken_ones_apart(test_apps):
    described, errors = describe_installed()
    sine = described["sine"]
    assert json.loads(json.dumps(sine)) == sine, "plain JSON"
    assert sine["defaults"] == load_pipeline("sine").default_config()
    assert sine["config_schema"]["additionalProperties"] is False
    assert {spec["name"]: spec["direction"] for spec in sine["epoch_metrics"]}["val_loss"] == "lower"
    assert all({"name", "direction", "unit"} <= set(spec) for spec in sine["metrics"])
    assert "broken" not in described
    assert "nonexistent_dependency" in {error.name: error.error for error in errors}["broken"]
