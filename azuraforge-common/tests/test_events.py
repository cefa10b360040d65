import pydantic
import pytest

from azuraforge_common.events import (
    BatchEvent,
    EpochEndEvent,
    PredictionsEvent,
    ProgressEvent,
    StatusEvent,
    TrainBeginEvent,
    is_final,
    parse_event,
)

EVENTS: list[ProgressEvent] = [
    StatusEvent(experiment_id="e1", seq=1, ts=1.5, status="running"),
    TrainBeginEvent(experiment_id="e1", seq=2, ts=2.0, app="demo", total_epochs=3, config={"epochs": 3}),
    BatchEvent(experiment_id="e1", seq=3, ts=2.1, epoch=1, batch=4, total_batches=10, loss=0.5),
    EpochEndEvent(
        experiment_id="e1", seq=4, ts=3.0, epoch=1, total_epochs=3, metrics={"loss": 0.4}, elapsed_s=1.0, eta_s=2.0
    ),
    PredictionsEvent(experiment_id="e1", seq=5, ts=3.1, epoch=1, actual=[1.0, 2.0], predicted=[1.1, 1.9]),
    StatusEvent(experiment_id="e1", seq=6, ts=4.0, status="failed", error="boom", final=True),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_every_event_survives_its_json(event):
    assert parse_event(event.model_dump_json()) == event


def test_json_carries_the_contract_fields():
    event = parse_event(EVENTS[3].model_dump_json())
    assert event.model_dump() == {
        "experiment_id": "e1",
        "seq": 4,
        "ts": 3.0,
        "type": "epoch_end",
        "epoch": 1,
        "total_epochs": 3,
        "metrics": {"loss": 0.4},
        "elapsed_s": 1.0,
        "eta_s": 2.0,
    }


def test_only_a_final_status_is_final():
    assert [is_final(e) for e in EVENTS] == [False] * 5 + [True]


@pytest.mark.parametrize(
    "raw",
    [
        '{"experiment_id": "e1", "seq": 1, "ts": 0, "type": "nope"}',
        '{"experiment_id": "e1", "seq": 1, "ts": 0, "type": "status", "status": "exploded"}',
        '{"experiment_id": "e1", "seq": 1, "ts": 0, "type": "epoch_end", "epoch": 0, "total_epochs": 1,'
        ' "metrics": {}, "elapsed_s": 0, "eta_s": null}',
    ],
)
def test_rejects_what_the_contract_does_not_allow(raw):
    with pytest.raises(pydantic.ValidationError):
        parse_event(raw)


def test_a_diverged_loss_travels_as_null():
    event = EpochEndEvent(
        experiment_id="e1", epoch=1, total_epochs=1, metrics={"loss": float("nan")}, elapsed_s=1, eta_s=None
    )
    raw = event.model_dump_json()
    assert '"loss":null' in raw
    parsed = parse_event(raw)
    assert isinstance(parsed, EpochEndEvent)
    assert parsed.metrics == {"loss": None}
