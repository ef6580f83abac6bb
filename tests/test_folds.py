"""The read models' folds as given / when / then, with no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from schemas import Event
from service.domain.entities import Profile, evolve_profile, facts_about
from service.domain.timeline import Item, RecordedEvent, evolve, fold, start
from tests.factories import registered, reported

T0 = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)


def logged(body: dict[str, Any], position: int, event_id: uuid.UUID | None = None) -> RecordedEvent:
    event = msgspec.convert(body, Event)
    return RecordedEvent(
        id=event_id or uuid.uuid4(),
        stream="s",
        position=position,
        recorded_at=T0,
        event=event,
        transaction_id=1,
    )


def fact(**fields: Any) -> RecordedEvent:
    return logged(reported("microsoft", **fields), 1)


def test_given_a_fact_then_the_item_carries_its_fields() -> None:
    item = start(fact(headline="Hello", tags=["a"], status="confirmed"))
    assert (item.headline, item.tags, item.status, item.corrections) == (
        {"en": "Hello"},
        ["a"],
        "confirmed",
        [],
    )


def test_given_an_item_when_confirmed_then_denied_then_the_last_verdict_stands() -> None:
    item = start(fact())
    confirmed = evolve(item, logged({"type": "event.confirmed", "event_id": str(item.id)}, 2))
    denied = evolve(confirmed, logged({"type": "event.denied", "event_id": str(item.id)}, 3))
    assert (confirmed.status, denied.status) == ("confirmed", "denied")
    assert [verdict.status for verdict in denied.verdicts] == ["confirmed", "denied"]


def test_given_an_item_when_corrected_then_fields_change_and_the_note_is_kept() -> None:
    item = start(
        logged(
            {
                **reported("mai-1"),
                "type": "model.reported",
                "parameters": 5,
                "entities": [{"slug": "mai-1", "role": "model"}],
            },
            1,
        )
    )
    correction = {
        "type": "event.corrected",
        "event_id": str(item.id),
        "note": {"en": "Size fixed."},
        "changes": {"parameters": 500, "occurred": "2024-05-06"},
    }
    corrected = evolve(item, logged(correction, 2))
    assert (corrected.details["parameters"], corrected.occurred) == (500, "2024-05-06")
    assert corrected.corrections[0].changed == ["occurred", "parameters"]
    assert corrected.corrections[0].note == {"en": "Size fixed."}


def test_given_a_retracted_item_then_later_follow_ups_change_nothing() -> None:
    item = start(fact())
    retracted = evolve(
        item, logged({"type": "event.retracted", "event_id": str(item.id), "reason": {"en": "x"}}, 2)
    )
    after = evolve(retracted, logged({"type": "event.confirmed", "event_id": str(item.id)}, 3))
    assert after == retracted
    assert retracted.retracted is not None


def test_fold_replays_a_log_in_order() -> None:
    first = uuid.uuid4()
    events = [
        logged(reported("microsoft", headline="A"), 1, first),
        logged(
            {
                "type": "event.corrected",
                "event_id": str(first),
                "changes": {"headline": {"en": "B"}},
                "note": {"en": "n"},
            },
            2,
        ),
    ]
    assert fold(events)[first].headline == {"en": "B"}


def test_profiles_fold_registration_update_and_merge() -> None:
    profile = evolve_profile(None, msgspec.convert(registered("deepmind", aliases=["DM"]), Event))
    profile = evolve_profile(
        profile, msgspec.convert({"type": "entity.updated", "slug": "deepmind", "name": "DeepMind"}, Event)
    )
    profile = evolve_profile(
        profile, msgspec.convert({"type": "entity.merged", "slug": "deepmind", "into": "gdm"}, Event)
    )
    assert profile == Profile(
        slug="deepmind", kind="organization", name="DeepMind", aliases=["DM"], merged_into="gdm"
    )


def _item(kind: str, occurred: str, entities: list[tuple[str, str]], **details: Any) -> Item:
    body = {
        **reported(*[s for s, _ in entities]),
        "type": kind,
        "occurred": occurred,
        "entities": [{"slug": s, "role": r} for s, r in entities],
        **details,
    }
    return start(logged(body, int(occurred[:4])))


def test_a_departure_closes_the_role_it_matches() -> None:
    items = [
        _item(
            "person.appointed", "2022", [("suleyman", "appointee"), ("inflection", "employer")], title="CEO"
        ),
        _item(
            "person.departed", "2024-03", [("suleyman", "person"), ("inflection", "employer")], title="CEO"
        ),
        _item(
            "person.appointed",
            "2024-03",
            [("suleyman", "appointee"), ("microsoft-ai", "employer")],
            title="CEO",
        ),
    ]
    roles = facts_about({"suleyman"}, "person", items)["roles"]
    assert [(r.organization, r.since, r.until) for r in roles] == [
        ("inflection", "2022", "2024-03"),
        ("microsoft-ai", "2024-03", None),
    ]
    people = facts_about({"inflection"}, "organization", items)["people"]
    assert [(p.person, p.until) for p in people] == [("suleyman", "2024-03")]


def test_a_model_takes_its_latest_stage_developer_and_size() -> None:
    items = [
        _item("model.reported", "2024-05", [("mai-1", "model"), ("microsoft", "developer")], parameters=500),
        _item("model.released", "2025-01", [("mai-1", "model"), ("microsoft", "developer")]),
    ]
    facts = facts_about({"mai-1"}, "model", items)
    assert (facts["stage"].value, facts["developer"].value, facts["parameters"].value["count"]) == (
        "released",
        "microsoft",
        500,
    )
