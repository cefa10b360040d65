"""App configuration: the pydantic base every app config extends, and the one way configs are validated.

An app's `Config` class is its JSON schema (`Config.model_json_schema()`), from which the dashboard builds its
form, so every field should have a default, bounds and a description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ConfigT = TypeVar("ConfigT", bound="PipelineConfig")


MAX_STRING_LENGTH = 1_000
"""Of every string in every app's config (a path, a ticker, each list item): configs are stored with each run
and listed with it, so a megabyte string would cost megabytes per listing."""


class PipelineConfig(BaseModel):
    """Fields every app has. Unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING_LENGTH)

    epochs: int = Field(default=10, ge=1, le=10_000, description="Passes over the training data.")
    batch_size: int = Field(default=32, ge=1, le=65_536, description="Samples per gradient step.")
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0, description="Step size of the Adam optimizer.")
    seed: int | None = Field(
        default=42,
        ge=0,
        le=2**32 - 1,
        description="Seeds every random choice, so equal seeds give equal results; null: random.",
    )
    early_stopping_patience: int | None = Field(
        default=None,
        ge=0,
        description="Stop when the validation loss has not improved for this many epochs and keep the best "
        "weights; null: train for all epochs.",
    )


class ConfigError(ValueError):
    """A config that does not validate. `errors` lists {"field": dotted path, "message": what was expected}."""

    def __init__(self, app: str, errors: list[dict[str, str]]) -> None:
        self.app = app
        self.errors = errors
        lines = "\n".join(f"  - {error['field']}: {error['message']}" for error in errors)
        super().__init__(f"invalid config for app {app!r}:\n{lines}")


def excerpt(value: Any, length: int = 60) -> str:
    """A short description of an input for an error message: never the whole of a long or nested value."""
    if isinstance(value, str):
        return repr(value) if len(value) <= length else f"{value[:length]!r}... ({len(value)} characters)"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return repr(value)[:length]


def _message(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        return f"unknown field; the fields of this app are: {', '.join(model.model_fields)}"
    return f"{error['msg']} (got {excerpt(error['input'])})"


def validate_config(app: str, model: type[ConfigT], config: Mapping[str, Any] | BaseModel) -> ConfigT:
    """`config` as an instance of `model`, or ConfigError naming every bad field and what it expected."""
    raw = config.model_dump() if isinstance(config, BaseModel) else config
    if not isinstance(raw, Mapping):
        raise ConfigError(app, [{"field": "(config)", "message": f"expected a mapping, got {type(raw).__name__}"}])
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(part) for part in error["loc"]) or "(config)", "message": _message(error, model)}
            for error in exc.errors()
        ]
        raise ConfigError(app, errors) from exc
