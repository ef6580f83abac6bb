"""The append rules as given / when / then, with no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from schemas import Appended, Event
from service.domain.appending import (
    AppendPlan,
    AppendState,
    PriorEvent,
    Replay,
    StreamState,
    TargetState,
    decide,
    event_type,
    needs,
    stored_data,
)
from service.domain.errors import Conflict, Forbidden, Rejected
from tests.factories import registered, reported

MICROSOFT = StreamState(version=3, kind="organization", merged_into=None)
MAI_1 = StreamState(version=1, kind="model", merged_into=None)


def events(*bodies: dict[str, object]) -> list[Event]:
    return [msgspec.convert(body, Event) for body in bodies]


def paths(posted: list[Event]) -> list[str]:
    return [f"$[{i}]" for i in range(len(posted))]


def plan(
    posted: list[Event],
    streams: dict[str, StreamState],
    targets: dict[uuid.UUID, TargetState] | None = None,
) -> AppendPlan:
    decided = decide(posted, AppendState(streams, targets or {}, {}), paths(posted))
    assert isinstance(decided, AppendPlan)
    return decided


def logged(event: Event, stream: str, version: int) -> dict[uuid.UUID, PriorEvent]:
    """``event`` as the log holds it under its id, at ``version`` of ``stream``."""
    assert event.id is not None
    row = Appended(
        id=event.id, stream=stream, version=version, position=version, recorded_at=datetime.now(UTC)
    )
    return {event.id: PriorEvent(row, event_type(event), stored_data(event))}


def test_given_a_known_entity_when_a_fact_is_appended_then_it_goes_to_that_stream() -> None:
    result = plan(events(reported("microsoft")), {"microsoft": MICROSOFT})
    [change] = result.streams
    assert (change.stream, change.count, change.expected) == ("microsoft", 1, None)
    assert result.events[0].occurred == "2024-05"
    stored = msgspec.json.decode(result.events[0].data)
    assert stored["type"] == "fact.reported"
    assert "stream" not in stored


def test_given_a_batch_when_it_registers_then_uses_an_entity_then_it_is_valid() -> None:
    result = plan(events(registered("openai"), reported("openai", "microsoft")), {"microsoft": MICROSOFT})
    openai = next(change for change in result.streams if change.stream == "openai")
    assert (openai.registers_kind, openai.expected, openai.count) == ("organization", 0, 2)


def test_given_no_entity_when_a_fact_names_it_then_the_reference_is_rejected() -> None:
    with pytest.raises(Rejected) as rejected:
        plan(events(reported("microsoft", "ghost")), {"microsoft": MICROSOFT})
    assert [problem.path for problem in rejected.value.problems] == ["$[0].entities[1].slug"]


def test_given_version_three_when_expecting_two_then_conflict() -> None:
    with pytest.raises(Conflict) as conflict:
        plan(events(reported("microsoft", expected_version=2)), {"microsoft": MICROSOFT})
    assert conflict.value.current_version == 3


def test_given_expectations_in_a_batch_then_they_fold_to_the_start_version() -> None:
    result = plan(
        events(
            reported("microsoft", expected_version=3),
            reported("microsoft"),
            reported("microsoft", expected_version=5),
        ),
        {"microsoft": MICROSOFT},
    )
    assert result.streams[0].expected == 3


def test_given_a_stream_when_the_fact_claims_another_then_rejected() -> None:
    with pytest.raises(Rejected) as rejected:
        plan(events(reported("microsoft", stream="mai-1")), {"microsoft": MICROSOFT, "mai-1": MAI_1})
    assert rejected.value.problems[0].path == "$[0].stream"


def test_given_a_retraction_in_the_batch_then_later_follow_ups_are_rejected() -> None:
    fact = uuid.uuid4()
    earlier = {fact: TargetState("fact.reported", "microsoft", retracted=False)}
    posted = events(
        {"type": "event.retracted", "event_id": str(fact), "reason": {"en": "wrong"}},
        {"type": "event.confirmed", "event_id": str(fact)},
    )
    with pytest.raises(Rejected) as rejected:
        plan(posted, {"microsoft": MICROSOFT}, earlier)
    assert rejected.value.problems[0].path == "$[1].event_id"


def test_given_a_follow_up_then_it_joins_the_stream_of_its_fact() -> None:
    fact = uuid.uuid4()
    result = plan(
        events({"type": "event.confirmed", "event_id": str(fact)}),
        {},
        {fact: TargetState("model.reported", "mai-1", retracted=False)},
    )
    assert result.events[0].stream == "mai-1"


def test_given_a_merged_entity_then_it_cannot_be_merged_again() -> None:
    merged = StreamState(version=2, kind="organization", merged_into="microsoft")
    with pytest.raises(Rejected):
        plan(
            events({"type": "entity.merged", "slug": "msft", "into": "microsoft"}),
            {"msft": merged, "microsoft": MICROSOFT},
        )


def test_given_entities_of_two_kinds_then_one_cannot_be_merged_into_the_other() -> None:
    suleyman = StreamState(version=1, kind="person", merged_into=None)
    with pytest.raises(Rejected) as rejected:
        plan(
            events({"type": "entity.merged", "slug": "mustafa-suleyman", "into": "microsoft"}),
            {"mustafa-suleyman": suleyman, "microsoft": MICROSOFT},
        )
    [problem] = rejected.value.problems
    assert problem.path == "$[0].into"
    assert "same kind" in problem.reason
    msft = StreamState(version=1, kind="organization", merged_into=None)
    merged = plan(
        events({"type": "entity.merged", "slug": "msft", "into": "microsoft"}),
        {"msft": msft, "microsoft": MICROSOFT},
    )
    assert merged.streams[0].merges_into == "microsoft"


def test_the_same_id_twice_in_one_request_is_rejected() -> None:
    same = str(uuid.uuid4())
    posted = events(reported("microsoft", id=same), reported("microsoft", id=same))
    with pytest.raises(Rejected) as rejected:
        plan(posted, {"microsoft": MICROSOFT})
    assert rejected.value.problems[0].path == "$[1].id"


def test_given_a_batch_then_it_needs_its_slugs_targets_and_ids() -> None:
    fact, own = uuid.uuid4(), uuid.uuid4()
    posted = events(
        reported("microsoft", "mai-1", id=str(own)),
        {"type": "event.confirmed", "event_id": str(fact)},
    )
    needed = needs(posted)
    assert (needed.slugs, needed.targets, needed.ids, needed.versions) == (
        ["mai-1", "microsoft"],
        [fact],
        [own],
        False,
    )
    assert needs(events(reported("microsoft", expected_version=3))).versions
    assert needs(events(registered("openai"))).versions


def test_given_the_same_events_in_the_log_when_retried_then_the_earlier_rows_answer() -> None:
    posted = events(reported("microsoft", id=str(uuid.uuid4()), expected_version=0))
    prior = logged(posted[0], "microsoft", 1)
    # The stream has moved on since: a retry is answered all the same.
    decided = decide(posted, AppendState({"microsoft": MICROSOFT}, {}, prior), paths(posted))
    assert decided == Replay([row.row for row in prior.values()])


def test_given_an_id_in_the_log_when_another_event_reuses_it_then_conflict() -> None:
    same = str(uuid.uuid4())
    earlier = events(reported("microsoft", id=same))[0]
    posted = events(reported("microsoft", id=same, headline="Something else"))
    with pytest.raises(Conflict, match="already used by a different event"):
        decide(
            posted,
            AppendState({"microsoft": MICROSOFT}, {}, logged(earlier, "microsoft", 1)),
            paths(posted),
        )


def test_given_some_ids_in_the_log_when_a_batch_adds_others_then_conflict() -> None:
    posted = events(reported("microsoft", id=str(uuid.uuid4())), reported("microsoft", id=str(uuid.uuid4())))
    prior = logged(posted[0], "microsoft", 1)
    with pytest.raises(Conflict, match="a retry must resend exactly the original request"):
        decide(posted, AppendState({"microsoft": MICROSOFT}, {}, prior), paths(posted))


def _erasure(**target: object) -> list[Event]:
    return events({"type": "event.erased", "basis": "court order", "reference": "TJ 1", **target})


def test_given_a_fact_when_an_admin_erases_it_then_the_erasure_goes_to_its_stream() -> None:
    fact = uuid.uuid4()
    targets = {fact: TargetState("fact.reported", "mai-1", retracted=False)}
    decided = decide(_erasure(event_id=str(fact)), AppendState({}, targets, {}), ["$"], admin=True)
    assert isinstance(decided, AppendPlan)
    assert [event.stream for event in decided.events] == ["mai-1"]


def test_given_a_write_key_when_it_erases_then_it_is_forbidden() -> None:
    fact = uuid.uuid4()
    targets = {fact: TargetState("fact.reported", "mai-1", retracted=False)}
    with pytest.raises(Forbidden):
        decide(_erasure(event_id=str(fact)), AppendState({}, targets, {}), ["$"])


def test_given_an_erased_fact_when_it_is_erased_again_or_followed_up_then_it_is_refused() -> None:
    fact = uuid.uuid4()
    targets = {fact: TargetState("fact.reported", "mai-1", retracted=False, erased=True)}
    with pytest.raises(Conflict):
        decide(_erasure(event_id=str(fact)), AppendState({}, targets, {}), ["$"], admin=True)
    confirmed = events({"type": "event.confirmed", "event_id": str(fact)})
    with pytest.raises(Rejected, match="was erased"):
        decide(confirmed, AppendState({}, targets, {}), ["$"])


def test_given_an_erased_entity_when_it_is_erased_again_then_it_conflicts() -> None:
    state = AppendState({"jane": StreamState(2, "person", None)}, {}, {}, frozenset({"jane"}))
    with pytest.raises(Conflict):
        decide(_erasure(slug="jane"), state, ["$"], admin=True)
    assert needs(_erasure(slug="jane")).erasures == ["jane"]


def test_given_nothing_by_that_name_when_it_is_erased_then_the_field_is_named() -> None:
    with pytest.raises(Rejected) as refused:
        decide(_erasure(event_id=str(uuid.uuid4())), AppendState({}, {}, {}), ["$"], admin=True)
    assert [problem.path for problem in refused.value.problems] == ["$.event_id"]
    with pytest.raises(Rejected) as refused:
        decide(_erasure(slug="nobody"), AppendState({}, {}, {}), ["$"], admin=True)
    assert [problem.path for problem in refused.value.problems] == ["$.slug"]
