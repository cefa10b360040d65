import numpy as np
import pytest
from pydantic import BaseModel, Field

from azuraforge_core import Tensor
from azuraforge_learner import ConfigError, PipelineConfig, TimeSeriesConfig, WindowSpec, validate_config
from azuraforge_learner.forecasters import (
    ForecasterConfig,
    RecurrentForecaster,
    TransformerForecaster,
    build_forecaster,
)
from azuraforge_learner.image import ImageClassificationConfig


class Nested(BaseModel):
    units: int = Field(default=8, ge=1)


class AppConfig(PipelineConfig):
    model: Nested = Nested()


def test_every_bad_field_is_named_with_what_was_expected():
    with pytest.raises(ConfigError) as caught:
        validate_config("demo", AppConfig, {"epochs": 0, "batch_size": "many", "model": {"units": -1}})
    error = caught.value
    assert isinstance(error, ValueError)
    fields = {item["field"]: item["message"] for item in error.errors}
    assert set(fields) == {"epochs", "batch_size", "model.units"}
    assert "greater than or equal to 1" in fields["epochs"]
    assert "got 0" in fields["epochs"]
    assert "valid integer" in fields["batch_size"]
    message = str(error)
    assert message.startswith("invalid config for app 'demo':")
    assert "  - model.units: Input should be greater than or equal to 1 (got -1)" in message


def test_an_unknown_field_lists_the_known_ones():
    with pytest.raises(ConfigError) as caught:
        validate_config("demo", AppConfig, {"epoch": 3})
    assert caught.value.errors[0]["field"] == "epoch"
    assert "unknown field" in caught.value.errors[0]["message"]
    assert "epochs" in caught.value.errors[0]["message"]


def test_defaults_fill_in_and_models_are_accepted():
    config = validate_config("demo", AppConfig, {"seed": None})
    assert config.epochs == 10
    assert config.seed is None
    assert config.model.units == 8
    assert validate_config("demo", AppConfig, config) == config
    with pytest.raises(ConfigError, match="expected a mapping"):
        validate_config("demo", AppConfig, ["epochs", 3])  # type: ignore[arg-type]


def test_split_fractions_must_leave_a_test_part():
    with pytest.raises(ConfigError) as caught:
        validate_config("demo", TimeSeriesConfig, {"train_fraction": 0.8, "val_fraction": 0.2})
    assert caught.value.errors[0]["field"] == "val_fraction"
    assert "below 1" in caught.value.errors[0]["message"]
    with pytest.raises(ConfigError) as caught:
        validate_config("demo", ImageClassificationConfig, {"val_fraction": 0.5, "test_fraction": 0.5})
    assert caught.value.errors[0]["field"] == "test_fraction"


def test_the_schema_carries_defaults_bounds_and_descriptions():
    schema = TimeSeriesConfig.model_json_schema()
    window = schema["properties"]["window"]
    assert window["default"] == 24
    assert window["minimum"] == 1
    assert window["description"]
    assert schema["additionalProperties"] is False


class FolderConfig(PipelineConfig):
    folder: str = ""
    names: list[str] = Field(default_factory=list)


def test_every_string_of_every_app_config_is_bounded_and_errors_quote_only_an_excerpt():
    huge = "x" * 5_000_000
    with pytest.raises(ConfigError) as caught:
        validate_config("demo", FolderConfig, {"folder": huge, "names": ["ok", huge]})
    assert {item["field"] for item in caught.value.errors} == {"folder", "names.1"}
    assert all("at most 1000 characters" in item["message"] for item in caught.value.errors)
    assert len(str(caught.value)) < 1_000, "the error quotes an excerpt, not the 5 MB input"
    assert "(5000000 characters)" in str(caught.value)


@pytest.mark.parametrize(
    ("cell", "model_class"),
    [("lstm", RecurrentForecaster), ("gru", RecurrentForecaster), ("transformer", TransformerForecaster)],
)
def test_a_forecaster_config_names_the_model_build_forecaster_makes(cell, model_class):
    config = validate_config("demo", ForecasterConfig, {"cell": cell, "hidden_size": 8, "num_layers": 2})
    spec = WindowSpec(features=("value",), target="value", window=4, horizon=2)
    model = build_forecaster(config, spec, last_value_column=0)
    assert isinstance(model, model_class)
    assert model.head.weight.shape == (2, 8)
    assert model(Tensor(np.zeros((3, 4, 1), dtype=np.float32))).shape == (3, 2)


def test_a_forecaster_config_rejects_an_unknown_cell():
    with pytest.raises(ConfigError) as caught:
        validate_config("demo", ForecasterConfig, {"cell": "rnn"})
    assert caught.value.errors[0]["field"] == "cell"
    assert "'lstm', 'gru' or 'transformer'" in caught.value.errors[0]["message"]
