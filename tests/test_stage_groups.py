"""The one map of stage groups (streams.runtime.topics.stage_groups) against what the worker runs."""

from __future__ import annotations

from streams.cli.status import Status, carry
from streams.config import load_settings
from streams.runtime.batch_source import group_of
from streams.runtime.topics import committing_groups, event_path_groups, stage_groups


def test_every_stage_the_worker_runs_is_in_the_map_with_the_topics_it_reads(tmp_path):
    """The lag gauge, the demo's drain, privacy's waits and the upgrade's offset moves all read the map:
    a stage added to the worker but not to the map would be invisible to each of them."""
    from streams.worker import build_app

    settings = load_settings(None, environ={"CXPULSE_DATA_DIR": str(tmp_path)})
    _, store, sources = build_app(settings)
    store.close()
    built = {group_of(settings.kafka.app_id, source.name): sorted(source.topics) for source in sources}
    assert built == {group: sorted(stage.topics) for group, stage in stage_groups(settings).items()}


def test_the_event_path_ends_where_timers_start_adding():
    settings = load_settings(None, environ={})
    k = settings.kafka
    path = {group.removeprefix(f"{k.app_id}-") for group in event_path_groups(settings)}
    assert path == {"ingest", "dedup", "identity-graph", "detect", "privacy", "sink-events"}
    assert all(k.ticks_topic not in topics for topics in committing_groups(settings).values())


def test_a_scrape_the_worker_does_not_answer_keeps_the_last_reading_on_the_board():
    answered = Status(at=10.0, consumed=500.0, floor={"waiting": 3.0}, worker_up=True)
    missed = carry(Status(at=11.0, lag=7), answered)
    assert (missed.consumed, missed.floor, missed.at, missed.lag) == (500.0, {"waiting": 3.0}, 11.0, 7)
    assert not missed.worker_up and missed.unanswered == 1
    assert carry(Status(at=12.0), missed).unanswered == 2
    back = Status(at=13.0, consumed=600.0, worker_up=True)
    assert carry(back, missed) is back
    assert carry(Status(at=1.0), Status(at=0.0)).unanswered == 0  # a worker that never answered is down
