"""Predicting from a saved run through the typed contracts: one load, many predictions."""

import json

import numpy as np
import pandas as pd
import pytest
from sample_apps import BlobClassifier, SineForecaster, sine_frame

from azuraforge_learner.serving import ClassificationOutput, ForecastOutput

FAST = {"epochs": 2, "rows": 160, "seed": 3, "horizon": 3}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One run's directory for every test here: predicting never changes it."""
    directory = tmp_path_factory.mktemp("saved")
    SineForecaster().run(FAST, output_dir=directory)
    return directory


def history(frame: pd.DataFrame) -> dict[str, object]:
    return {
        "history": frame.to_dict(orient="records"),
        "timestamps": [stamp.isoformat() for stamp in frame.index],
    }


def test_a_forecast_from_a_history_with_timestamps_matches_predict_with_the_frame(saved):
    assert json.loads((saved / "model.json").read_text())["task"] == "forecast"
    predictor = SineForecaster().load_predictor(saved)
    frame = sine_frame(100)

    answer = ForecastOutput.model_validate(predictor.predict_json(history(frame)))
    direct = SineForecaster().predict(saved, data=frame)
    assert [point.value for point in answer.forecast] == pytest.approx(direct["forecast"])
    assert [point.timestamp for point in answer.forecast] == direct["forecast_index"]
    assert answer.last_timestamp == str(frame.index[-1])
    two = predictor.predict_json({**history(frame), "horizon": 2})
    assert two["forecast"] == answer.model_dump(mode="json")["forecast"][:2]

    latest = ForecastOutput.model_validate(predictor.predict_json({}))
    assert latest.last_timestamp == str(sine_frame(160).index[-1]), "no history: the app's own data"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"horizon": 4}, "horizon 4 is beyond the model's"),
        ({"history": [{"value": 1.0, "hour_cos": 0.0}] * 3}, "at least window=8 rows"),
        ({"history": [{"value": 1.0, "hour_cos": 0.0}] * 8, "timestamps": ["noon"] * 8}, "ISO 8601"),
        ({"history": []}, "history"),
        ({"rows": []}, "Extra inputs are not permitted"),
    ],
)
def test_a_forecast_input_the_model_cannot_take_says_why(saved, payload, message):
    with pytest.raises(ValueError, match=message):
        SineForecaster().load_predictor(saved).predict_json(payload)


def test_an_image_classifier_gives_every_class_probability_with_the_training_normalisation(tmp_path):
    BlobClassifier().run({"epochs": 8, "seed": 0}, output_dir=tmp_path)
    predictor = BlobClassifier().load_predictor(tmp_path)
    blob = np.zeros((6, 6))
    blob[3:, :] = 1.0  # the bottom class, on the scale the app trained on (0..255)
    answer = ClassificationOutput.model_validate(predictor.predict_json({"pixels": (blob * 255.0).tolist()}))
    assert answer.probabilities[0].label == answer.top_class == "bottom"
    assert sum(p.probability for p in answer.probabilities) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"pixels must be shaped \(6, 6\)"):
        predictor.predict_json({"pixels": [[0.0] * 5] * 6})
