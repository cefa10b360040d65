import threading

import pytest

from azuraforge_common import names, store
from azuraforge_common.database import create_db_engine, session_factory
from azuraforge_common.events import StatusEvent, parse_event
from azuraforge_common.lifecycle import end_experiment
from azuraforge_common.migrate import upgrade
from azuraforge_common.store import NewExperiment


@pytest.fixture
def sessions(empty_database_url):
    upgrade(empty_database_url)
    engine = create_db_engine(empty_database_url)
    yield session_factory(engine)
    engine.dispose()


def test_racing_enders_make_one_final_transition_and_one_final_event(sessions, redis_client):
    with sessions() as session:
        (experiment,) = store.create_experiments(session, [NewExperiment(app="demo", config={})])
        store.transition(session, experiment.id, ["queued"], "running")
    outcomes: list[bool] = []
    barrier = threading.Barrier(4)

    def end(status, error):
        with sessions() as session:
            barrier.wait()
            outcomes.append(end_experiment(session, redis_client, experiment.id, ["running"], status, error=error))

    enders = [
        threading.Thread(target=end, args=args)
        for args in [("succeeded", None), ("failed", "worker lost"), ("cancelled", None), ("failed", "boom")]
    ]
    for thread in enders:
        thread.start()
    for thread in enders:
        thread.join()

    assert sorted(outcomes) == [False, False, False, True]
    (final,) = [parse_event(fields[b"event"]) for _, fields in redis_client.xrange(names.events_stream(experiment.id))]
    assert isinstance(final, StatusEvent)
    assert final.final
    with sessions() as session:
        ended = store.get_experiment(session, experiment.id)
        assert ended is not None
        assert (ended.status, ended.error) == (final.status, final.error)


def test_the_end_clears_the_cancel_flag_and_gives_the_events_a_lifetime(sessions, redis_client):
    with sessions() as session:
        (experiment,) = store.create_experiments(session, [NewExperiment(app="demo", config={})])
        store.transition(session, experiment.id, ["queued"], "running")
        redis_client.set(names.cancel_key(experiment.id), 1)
        assert end_experiment(session, redis_client, experiment.id, ["running"], "cancelled")
    assert not redis_client.exists(names.cancel_key(experiment.id))
    for key in (names.events_stream(experiment.id), names.seq_key(experiment.id)):
        assert 0 < redis_client.ttl(key) <= names.FINISHED_EVENTS_TTL_S


def test_the_final_event_carries_the_stored_result(sessions, redis_client):
    result = {"status": "succeeded", "verdict": [{"metric": "rmse", "beaten": False}]}
    with sessions() as session:
        (experiment,) = store.create_experiments(session, [NewExperiment(app="demo", config={})])
        store.transition(session, experiment.id, ["queued"], "running")
        assert end_experiment(session, redis_client, experiment.id, ["running"], "succeeded", result=result)
        session.expire_all()
        ended = store.get_experiment(session, experiment.id)
        assert ended is not None
        assert ended.result == result
    (final,) = [parse_event(fields[b"event"]) for _, fields in redis_client.xrange(names.events_stream(experiment.id))]
    assert isinstance(final, StatusEvent)
    assert (final.final, final.result) == (True, result)
