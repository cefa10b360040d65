"""The experiment store on a fresh database of each kind, brought up by the shipped migrations."""

from datetime import UTC, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from azuraforge_common import store
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.migrate import downgrade, upgrade
from azuraforge_common.models import Base, Experiment, ExperimentTag, IdempotencyKey, Project
from azuraforge_common.store import Condition, ExperimentFilter, NewExperiment


@pytest.fixture
def database_url(empty_database_url):
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def session(database_url):
    engine = create_db_engine(database_url)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def test_migrations_build_exactly_the_models_schema(database_url):
    engine = create_db_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_removes_every_table(database_url):
    downgrade(database_url, "base")
    engine = create_db_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_created_experiment_reads_back_queued_with_utc_times(session):
    (created,) = store.create_experiments(
        session, [NewExperiment(app="demo", config={"epochs": 2, "layers": [8, 4]}, name="first", tags=("b", "a"))]
    )
    session.expunge_all()
    loaded = store.get_experiment(session, created.id)
    assert loaded is not None
    assert (loaded.app, loaded.name, loaded.status) == ("demo", "first", "queued")
    assert loaded.config == {"epochs": 2, "layers": [8, 4]}
    assert loaded.tags == ["b", "a"]
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert (loaded.metrics, loaded.history, loaded.artifacts, loaded.progress) == ({}, {}, [], None)
    assert store.get_experiment(session, "missing") is None


def test_transitions_are_conditional_and_stamped(session):
    (experiment,) = store.create_experiments(session, [NewExperiment(app="demo", config={})])
    assert store.transition(session, experiment.id, ["queued"], "running")
    assert not store.transition(session, experiment.id, ["queued"], "running"), "only one claimer wins"
    store.record_progress(session, experiment.id, 1, 3)
    assert store.transition(session, experiment.id, ["running"], "succeeded", metrics={"loss": 0.1})
    assert not store.transition(session, experiment.id, ["running"], "failed", error="late reaper")
    session.expire_all()
    done = store.get_experiment(session, experiment.id)
    assert done is not None
    assert done.status == "succeeded"
    assert done.metrics == {"loss": 0.1}
    assert done.error is None
    assert done.progress == {"epoch": 1, "total_epochs": 3}
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.created_at <= done.started_at <= done.finished_at
    assert done.finished_at.tzinfo == UTC
    assert store.running_experiment_ids(session) == []


def test_list_filters_sorts_and_pages(session):
    specs = [
        NewExperiment(app="alpha", config={}, name="a1", tags=("lstm",)),
        NewExperiment(app="alpha", config={}, name="a2", tags=("lstm", "baseline")),
        NewExperiment(app="beta", config={}, name="b1", tags=("baseline",)),
    ]
    made = [store.create_experiments(session, [spec])[0] for spec in specs]
    grid = store.create_experiments(
        session, [NewExperiment(app="beta", config={"lr": lr}, name=f"g{lr}") for lr in (1, 2)], batch_id="batch1"
    )
    store.transition(session, made[0].id, ["queued"], "running")

    def names(where: ExperimentFilter | None = None, **kwargs):
        items, total, _ = store.list_experiments(session, where or ExperimentFilter(), **kwargs)
        return [e.name for e in items], total

    assert names(sort="name") == (["a1", "a2", "b1", "g1", "g2"], 5)
    newest_first, _, _ = store.list_experiments(session, ExperimentFilter())
    assert [e.created_at for e in newest_first] == sorted((e.created_at for e in newest_first), reverse=True)
    assert names(sort="name", limit=2, offset=2) == (["b1", "g1"], 5)
    assert names(ExperimentFilter(app="alpha"), sort="name") == (["a1", "a2"], 2)
    assert names(ExperimentFilter(status="running")) == (["a1"], 1)
    assert names(ExperimentFilter(tag="baseline"), sort="name") == (["a2", "b1"], 2)
    assert names(ExperimentFilter(tag="baseline", app="beta")) == (["b1"], 1)
    assert names(ExperimentFilter(batch_id="batch1"), sort="-name") == (["g2", "g1"], 2)
    assert [e.batch_id for e in grid] == ["batch1", "batch1"]
    assert store.running_experiment_ids(session) == [made[0].id]


def test_pages_never_overlap_even_with_equal_sort_keys(session):
    store.create_experiments(session, [NewExperiment(app="same", config={}, name="same") for _ in range(7)])
    seen = []
    for offset in range(0, 7, 3):
        items, _, _ = store.list_experiments(session, ExperimentFilter(), sort="name", limit=3, offset=offset)
        seen += [e.id for e in items]
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 7


def test_idempotency_key_is_stored_once(session):
    (first,) = store.create_experiments(session, [NewExperiment(app="demo", config={})], idempotency=("k1", "h"))
    key = store.find_idempotency_key(session, "k1")
    assert key is not None
    assert (key.experiment_id, key.batch_id, key.request_hash) == (first.id, None, "h")
    session.expunge_all()  # as a second request would, in its own session
    with pytest.raises(IntegrityError):
        store.create_experiments(session, [NewExperiment(app="demo", config={})], idempotency=("k1", "h"))
    session.rollback()
    _, total, _ = store.list_experiments(session, ExperimentFilter())
    assert total == 1, "the losing request stored nothing"


def test_delete_takes_tags_and_idempotency_key_along(session):
    (experiment,) = store.create_experiments(
        session, [NewExperiment(app="demo", config={}, tags=("x", "y"))], idempotency=("k2", "h")
    )
    store.delete_experiment(session, experiment.id)
    session.expunge_all()
    assert store.get_experiment(session, experiment.id) is None
    assert session.query(ExperimentTag).count() == 0
    assert session.query(IdempotencyKey).count() == 0
    assert session.query(Experiment).count() == 0


def test_non_finite_numbers_are_stored_as_null(session):
    (experiment,) = store.create_experiments(session, [NewExperiment(app="demo", config={})])
    store.transition(session, experiment.id, ["queued"], "running")
    diverged = {"loss": [0.5, float("nan")], "val_loss": [float("inf"), 1.0]}
    assert store.transition(session, experiment.id, ["running"], "succeeded", history=diverged)
    session.expire_all()
    loaded = store.get_experiment(session, experiment.id)
    assert loaded is not None
    assert loaded.history == {"loss": [0.5, None], "val_loss": [None, 1.0]}


def test_upgrade_carries_rows_of_the_previous_schema_forward_and_downgrade_keeps_them(empty_database_url):
    upgrade(empty_database_url, "0001")
    engine = create_db_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (id, app, name, status, config, created_at, finished_at, metrics, "
                "baseline_metrics, history, artifacts) VALUES ('old', 'demo', 'before', 'succeeded', "
                "'{\"longitude\": -122.33}', '2026-01-01 00:00:00+00:00', '2026-01-01 00:05:00+00:00', "
                "'{\"rmse\": 0.29}', '{\"rmse\": 0.11}', '{\"loss\": [1.0, 0.5]}', '[\"report.md\"]')"
            )
        )
    engine.dispose()

    upgrade(empty_database_url)
    engine = create_db_engine(empty_database_url)
    with session_factory(engine)() as session:
        old = store.get_experiment(session, "old")
        assert old is not None
        assert (old.status, old.config, old.metrics, old.baseline_metrics) == (
            "succeeded",
            {"longitude": -122.33},
            {"rmse": 0.29},
            {"rmse": 0.11},
        )
        assert old.history == {"loss": [1.0, 0.5]}
        assert old.result is None, "a result that was never stored is not made up"
        assert store.transition(session, "old", ["succeeded"], "succeeded", result={"status": "succeeded"})
    engine.dispose()

    downgrade(empty_database_url, "0001")
    engine = create_db_engine(empty_database_url)
    assert "result" not in {column["name"] for column in inspect(engine).get_columns("experiments")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT metrics FROM experiments WHERE id = 'old'")).scalar_one() in (
            {"rmse": 0.29},
            '{"rmse": 0.29}',
        )
    engine.dispose()


def test_experiments_of_the_previous_schema_move_into_the_default_project(empty_database_url):
    upgrade(empty_database_url, "0002")
    engine = create_db_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (id, app, name, status, config, created_at, metrics, baseline_metrics, "
                "history, artifacts, result) VALUES ('old', 'demo', 'before', 'succeeded', '{}', "
                "'2026-06-01 00:00:00+00:00', '{\"rmse\": 0.2}', '{}', '{}', '[]', '{\"status\": \"succeeded\"}')"
            )
        )
    engine.dispose()

    upgrade(empty_database_url)
    engine = create_db_engine(empty_database_url)
    with session_factory(engine)() as session:
        old = store.get_experiment(session, "old")
        assert old is not None
        assert (old.project_id, old.metrics, old.result) == ("default", {"rmse": 0.2}, {"status": "succeeded"})
        assert session.get(Project, "default") is not None, "the migration made the default project"
        (new,) = store.create_experiments(session, [NewExperiment(app="demo", config={}, project_id="other")])
        assert [e.id for e in store.list_experiments(session, ExperimentFilter(projects=["default"]))[0]] == ["old"]
        assert store.list_experiments(session, ExperimentFilter(projects=["other"]))[0][0].id == new.id
        assert store.list_experiments(session, ExperimentFilter(projects=[]))[1] == 0
    engine.dispose()

    downgrade(empty_database_url, "0002")
    engine = create_db_engine(empty_database_url)
    assert "project_id" not in {column["name"] for column in inspect(engine).get_columns("experiments")}
    assert "users" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM experiments WHERE id = 'old'")).scalar_one() == "before"
    engine.dispose()


def _finished(session, name, metrics, config, tags=(), notes="", history=None):
    (experiment,) = store.create_experiments(session, [NewExperiment(app="demo", config=config, name=name, tags=tags)])
    store.transition(session, experiment.id, ["queued"], "running")
    store.transition(session, experiment.id, ["running"], "succeeded", metrics=metrics, history=history or {})
    if notes:
        store.update_experiment(session, experiment, None, None, notes)
    return experiment


def test_search_filters_by_metric_and_config_and_sorts_by_either(session):
    _finished(session, "slow", {"rmse": 0.3}, {"learning_rate": 0.0001, "optimizer": "sgd"}, notes="100% SGD")
    _finished(session, "fast", {"rmse": 0.05}, {"learning_rate": 0.01, "optimizer": "adam"}, tags=("Best",))
    _finished(session, "mid", {"rmse": 0.1}, {"learning_rate": 0.001, "optimizer": "adam"})
    _finished(session, "odd", {"rmse": None}, {"learning_rate": "high", "optimizer": "adam"})

    def names(*conditions, q=None, sort="name"):
        where = ExperimentFilter(q=q, conditions=tuple(Condition.parse(c) for c in conditions))
        return [e.name for e in store.list_experiments(session, where, sort=sort)[0]]

    assert names("metric.rmse<0.1") == ["fast"]
    assert names("metric.rmse <= 0.1") == ["fast", "mid"]
    assert names("config.learning_rate>=0.001") == ["fast", "mid"], "a text value is not a number"
    assert names("config.optimizer=adam", "metric.rmse>0.01") == ["fast", "mid"]
    assert names("config.optimizer!=adam") == ["slow"]
    assert names("metric.missing<1") == []
    assert names(q="best") == ["fast"], "a tag, case-insensitively"
    assert names(q="100%") == ["slow"], "notes; % is a character, not a wildcard"
    assert names(q="_") == []
    assert names(q="SUCCEEDED") == ["fast", "mid", "odd", "slow"]
    assert names(sort="metric.rmse") == ["fast", "mid", "slow", "odd"], "no value: last"
    assert names(sort="-metric.rmse") == ["slow", "mid", "fast", "odd"], "no value: last either way"
    assert names(sort="-config.learning_rate") == ["fast", "mid", "slow", "odd"]
    for bad in ["rmse<1", "metric.rmse~1", "metric.rmse<low", "metric.<1"]:
        with pytest.raises(ValueError, match="metric"):
            Condition.parse(bad)
    with pytest.raises(ValueError, match="cannot sort by"):
        store.list_experiments(session, ExperimentFilter(), sort="colour")


def test_per_epoch_metrics_filter_and_sort_by_their_last_epoch(session):
    """A name the run reports only per epoch (in history) stands for its value at the last epoch; a test metric
    of the same name comes first."""
    _finished(session, "improved", {"rmse": 1.0}, {}, history={"loss": [0.9, 0.2], "val_loss": [0.5, 0.08]})
    _finished(session, "plateau", {"rmse": 2.0}, {}, history={"loss": [0.3, 0.3], "val_loss": [0.3, 0.2]})
    _finished(session, "diverged", {}, {}, history={"loss": [0.4, float("nan")], "val_loss": [0.04, float("inf")]})
    _finished(session, "tested", {"loss": 7.0}, {}, history={"loss": [0.1], "val_loss": [1]})
    _finished(session, "empty", {}, {}, history={"val_loss": []})

    def names(*conditions, sort="name"):
        where = ExperimentFilter(conditions=tuple(Condition.parse(c) for c in conditions))
        return [e.name for e in store.list_experiments(session, where, sort=sort)[0]]

    assert names("metric.val_loss<0.1") == ["improved"], "the last epoch, not the best (diverged had 0.04)"
    assert names("metric.val_loss>=0.2") == ["plateau", "tested"], "an integer is a number too"
    assert names("metric.loss>1") == ["tested"], "the test metric, not the per-epoch loss"
    assert names("metric.loss<=0.3", "metric.rmse>1") == ["plateau"]
    without = {"diverged", "empty"}  # no number at the last epoch: last either way (in id order)
    assert names(sort="metric.val_loss")[:3] == ["improved", "plateau", "tested"]
    assert set(names(sort="metric.val_loss")[3:]) == without
    assert names(sort="-metric.val_loss")[:3] == ["tested", "plateau", "improved"]
    assert set(names(sort="-metric.val_loss")[3:]) == without
    assert names(sort="metric.loss")[:3] == ["improved", "plateau", "tested"]


@pytest.mark.parametrize(
    "sort", ["name", "-created_at", "metric.rmse", "-metric.rmse", "config.seed", "metric.val_loss", "-metric.val_loss"]
)
def test_cursor_pages_cover_every_row_once_while_rows_are_added(session, sort):
    for i in range(9):
        metrics = {"rmse": None if i % 4 == 0 else float(i % 3)}
        history = {"val_loss": [9.0, float(i % 3)]} if i % 4 else {"val_loss": [9.0, None]}
        _finished(session, f"r{i % 3}", metrics, {"seed": i % 2}, history=history)
    seen, cursor, pages = [], None, 0
    while True:
        page, _, cursor = store.list_experiments(session, ExperimentFilter(), sort=sort, limit=2, cursor=cursor)
        seen += [e.id for e in page]
        pages += 1
        if pages == 2:  # rows added meanwhile do not shift the pages still to come
            _finished(session, "new", {"rmse": 0.5}, {"seed": 5})
        if cursor is None:
            break
    everything = [e.id for e in store.list_experiments(session, ExperimentFilter(), sort=sort, limit=100)[0]]
    assert len(seen) == len(set(seen)), "no row twice"
    assert [i for i in everything if i in seen] == seen, "in the list's order"
    assert len(seen) >= 9, "every row that existed when paging began"
    _, _, first_cursor = store.list_experiments(session, ExperimentFilter(), sort=sort, limit=2)
    for other_sort, bad_cursor in [("name" if sort != "name" else "app", first_cursor), (sort, "not-a-cursor")]:
        with pytest.raises(ValueError, match="cursor"):
            store.list_experiments(session, ExperimentFilter(), sort=other_sort, cursor=bad_cursor)


def test_upgrading_fills_each_runs_latest_metric_from_its_history(empty_database_url):
    upgrade(empty_database_url, "0010")
    engine = create_db_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiments (id, app, name, status, config, metrics, baseline_metrics, history, "
                "artifacts, source, project_id, created_at) VALUES ('r1', 'x', 'r1', 'running', '{}', '{}', '{}', "
                "'{}', '[]', 'external', 'default', CURRENT_TIMESTAMP)"
            )
        )
        for key, value, step, timestamp in (
            ("loss", 0.9, 0, 1),
            ("loss", 0.5, 2, 3),
            ("loss", 0.7, 1, 9),  # a lower step logged later is not the latest
            ("acc", 0.4, 5, 5),
            ("acc", None, 5, 5),  # NaN ranks lowest at the same step and time
        ):
            connection.execute(
                text(
                    "INSERT INTO run_metrics (experiment_id, key, value, step, timestamp) VALUES ('r1', :k, :v, :s, :t)"
                ),
                {"k": key, "v": value, "s": step, "t": timestamp},
            )
    upgrade(empty_database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key, value, step, timestamp FROM run_latest_metrics ORDER BY key"))
        assert [tuple(row) for row in rows] == [("acc", 0.4, 5, 5), ("loss", 0.5, 2, 3)]
    engine.dispose()
