import pandas as pd
import pytest
from sample_apps import SineConfig, SineForecaster, sine_frame

from azuraforge_learner import BaselineResult, DataSource, Evaluation, Learner, MetricSpec, RunResult
from azuraforge_learner.artifacts import read_json
from azuraforge_learner.metrics import regression_metrics
from azuraforge_learner.record import judge
from azuraforge_learner.timeseries import DATA_SOURCE, PreparedSeries

FAST = {"epochs": 2, "rows": 160}
ERROR = MetricSpec(name="error", direction="lower")
SCORE = MetricSpec(name="score", direction="higher")


def test_each_metric_is_judged_against_its_strongest_baseline_in_its_own_direction():
    baselines = [
        BaselineResult(name="weak", metrics={"error": 3.0, "score": 0.9}),
        BaselineResult(name="strong", metrics={"error": 1.0, "score": 0.2}),
        BaselineResult(name="partial", metrics={"score": float("nan")}),
    ]
    verdict = judge({"error": 2.0, "score": 0.5, "undeclared": 1.0}, baselines, [ERROR, SCORE])
    assert [(v.metric, v.strongest_baseline, v.baseline, v.beaten) for v in verdict] == [
        ("error", "strong", 1.0, False),
        ("score", "weak", 0.9, False),
    ]
    tie = judge({"error": 1.0}, baselines, [ERROR])
    assert not tie[0].beaten, "a tie does not beat the baseline"
    assert judge({"error": 0.5}, baselines, [ERROR])[0].beaten


class WithOracle(SineForecaster):
    """A second baseline that knows the answers: the model can never beat it."""

    name = "oracle"

    def _evaluate(self, config: SineConfig, learner: Learner, data: PreparedSeries) -> Evaluation:
        evaluation = super()._evaluate(config, learner, data)
        actual = evaluation.outputs["actual"]
        evaluation.baselines.append(BaselineResult(name="oracle", metrics=regression_metrics(actual, actual)))
        return evaluation


def test_a_baseline_that_beats_the_model_is_reported_as_winning_everywhere(tmp_path):
    result = WithOracle().run(FAST, output_dir=tmp_path)
    persistence = result.baselines[0]
    assert {entry.strongest_baseline for entry in result.verdict} == {"oracle"}
    assert not any(result.beats_baselines().values())
    assert result.strongest_baseline_metrics()["rmse"] == 0.0

    report = (tmp_path / "report.md").read_text()
    opening = report.split("## Result")[0]
    assert "The model does **not** beat every baseline." in opening
    assert "oracle on rmse (0 vs " in opening
    assert "- oracle: **the baseline wins** on mae, rmse, mape, r2." in opening
    beaten = [name for name in ("mae", "rmse") if result.metrics[name] < persistence.metrics[name]]
    assert f"- persistence (last value): the model is better on {', '.join(beaten)}" in opening
    assert "beats every baseline" not in report
    assert read_json(tmp_path / "metrics.json")["verdict"][1] == {
        "metric": "rmse",
        "model": result.metrics["rmse"],
        "strongest_baseline": "oracle",
        "baseline": 0.0,
        "beaten": False,
    }


class UndeclaredMetric(SineForecaster):
    name = "undeclared"

    def _evaluate(self, config: SineConfig, learner: Learner, data: PreparedSeries) -> Evaluation:
        evaluation = super()._evaluate(config, learner, data)
        evaluation.metrics["hit_rate"] = 0.5
        return evaluation


def test_a_metric_without_a_declaration_fails_the_run_and_says_how_to_declare_it(tmp_path):
    with pytest.raises(ValueError, match="hit_rate are reported by _evaluate but not declared; add a MetricSpec"):
        UndeclaredMetric().run(FAST, output_dir=tmp_path)
    assert read_json(tmp_path / "metrics.json")["status"] == "failed"


class FromSample(SineForecaster):
    """States its source: the requested one was unreachable and a shipped sample stood in."""

    name = "from-sample"

    def _load_data(self, config: SineConfig) -> pd.DataFrame:
        frame = sine_frame(config.rows + (1 if config.window == 9 else 0))
        frame.attrs[DATA_SOURCE] = DataSource(
            requested="remote-api",
            used="sample",
            description="a generated sine",
            fallback_reason="remote-api could not be reached (no network), so the shipped sample was used.",
        )
        return frame


def test_provenance_records_the_fallback_the_data_fingerprint_seed_and_versions(tmp_path):
    first = FromSample().run(FAST, output_dir=tmp_path / "a")
    again = FromSample().run(FAST, output_dir=tmp_path / "b")
    other_data = FromSample().run({**FAST, "window": 9}, output_dir=tmp_path / "c")

    provenance = first.provenance
    assert provenance.data is not None
    assert other_data.provenance.data is not None
    assert provenance.data.source.fallback
    assert provenance.data.source.used == "sample"
    assert (provenance.data.first, provenance.data.last) == ("2024-01-01 00:00:00", "2024-01-07 15:00:00")
    assert provenance.data.rows == 160
    assert len(provenance.data.sha256) == 64
    assert again.provenance.data is not None
    assert provenance.data.sha256 == again.provenance.data.sha256
    assert provenance.data.sha256 != other_data.provenance.data.sha256
    assert first.metrics == again.metrics, "equal data fingerprints and seeds give equal results"
    assert provenance.seed == 42
    assert {"azuraforge-core", "azuraforge-learner"} <= set(provenance.packages)
    assert provenance.python.count(".") == 2
    assert provenance.numpy

    report = (tmp_path / "a" / "report.md").read_text()
    assert "| offline sample stood in | remote-api could not be reached (no network)" in report
    assert f"| sha256 of the data | {provenance.data.sha256} |" in report


def test_a_loader_that_names_no_source_is_recorded_as_such(tmp_path):
    result = SineForecaster().run(FAST, output_dir=tmp_path)
    assert result.provenance.data is not None
    assert not result.provenance.data.source.fallback
    assert result.provenance.data.source.description == "data loaded by the sine app (its loader names no source)"
    assert RunResult.model_validate_json((tmp_path / "metrics.json").read_text()) == result
