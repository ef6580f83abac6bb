"""Every event type the log accepts, as one tagged union on ``type``.

Tags are published names: once an event type ships, its tag never changes, new fields get
defaults, and a payload written by an older version must still decode. ``SCHEMA_VERSION`` is
raised when a type's meaning changes; it is stored with each event.

An event is posted flat: its own fields side by side with the envelope (``id``, ``stream``,
``expected_version`` and the correlation ids). The log stores the envelope in columns and
the rest as the event's ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal, get_args
from uuid import UUID

from msgspec import Meta, Struct

from schemas.common import (
    EntityKind,
    EntityRef,
    FactStatus,
    Headline,
    Money,
    PartialDateText,
    ShortText,
    Slug,
    Source,
    Summary,
    Tag,
    WikidataId,
    check_partial_date,
)

ExpectedVersion = Annotated[int, Meta(ge=0, le=2**31 - 1)] | Literal["none"]
TraceId = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+(?!\n)$")]
Sources = Annotated[list[Source], Meta(max_length=50)]
Tags = Annotated[list[Tag], Meta(max_length=50)]
Aliases = Annotated[list[ShortText], Meta(max_length=50)]
InvolvedEntities = Annotated[list[EntityRef], Meta(min_length=1, max_length=50)]
ParameterCount = Annotated[int, Meta(ge=1, le=10**15, description="Number of parameters.")]
ParameterQualifier = Literal["exact", "about", "up_to"]

ENVELOPE_FIELDS = frozenset({"id", "stream", "expected_version", "correlation_id", "causation_id"})


class Envelope(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, tag_field="type"):
    """What every posted event may carry besides its own fields."""

    SCHEMA_VERSION: ClassVar[int] = 1

    id: UUID | None = None
    """Chosen by the client to make retries safe; generated when absent."""
    stream: Slug | None = None
    """The entity this event belongs to; derived from the event when absent."""
    expected_version: ExpectedVersion | None = None
    """The stream's version the client last saw, or "none" for a stream that must not exist yet."""
    correlation_id: TraceId | None = None
    causation_id: TraceId | None = None


class EntityRegistered(Envelope, tag="entity.registered", kw_only=True):
    """A new entity the newsroom follows."""

    slug: Slug
    kind: EntityKind
    name: ShortText
    aliases: Aliases = []
    description: Summary | None = None
    wikidata_id: WikidataId | None = None


class EntityUpdated(Envelope, tag="entity.updated", kw_only=True):
    """New values for some of an entity's descriptive fields."""

    slug: Slug
    name: ShortText | None = None
    aliases: Aliases | None = None
    description: Summary | None = None
    wikidata_id: WikidataId | None = None

    def __post_init__(self) -> None:
        if (self.name, self.aliases, self.description, self.wikidata_id) == (None, None, None, None):
            raise ValueError("an update must change at least one of name, aliases, description, wikidata_id")


class EntityMerged(Envelope, tag="entity.merged", kw_only=True):
    """Two slugs turned out to be the same thing: ``slug`` now resolves to ``into``."""

    slug: Slug
    into: Slug


class EntityUnmerged(Envelope, tag="entity.unmerged", kw_only=True):
    """A merge undone: ``slug`` stands for itself again, as if it had never been merged into
    ``into``; whatever was merged into ``slug`` stays with it."""

    slug: Slug
    into: Slug
    """The entity ``slug`` is merged into now."""


class Fact(Envelope, kw_only=True):
    """What every newsroom fact carries."""

    REQUIRED_ROLES: ClassVar[frozenset[str]] = frozenset()
    """The roles a fact of this type must name."""
    ROLE_KINDS: ClassVar[Mapping[str, frozenset[EntityKind]]] = {
        "organization": frozenset({"organization"}),
        "founder": frozenset({"person", "organization"}),
        "appointee": frozenset({"person"}),
        "person": frozenset({"person"}),
        "employer": frozenset({"organization"}),
        "model": frozenset({"model"}),
        "developer": frozenset({"organization", "person"}),
        "acquirer": frozenset({"organization"}),
        "recipient": frozenset({"organization"}),
    }
    """The kinds of entity that can play a role in a fact; roles not listed take any kind."""

    occurred: PartialDateText
    headline: Headline
    entities: InvolvedEntities
    summary: Summary | None = None
    sources: Sources = []
    tags: Tags = []
    status: FactStatus = "reported"

    def __post_init__(self) -> None:
        check_partial_date("occurred", self.occurred)


class OrganizationFounded(Fact, tag="organization.founded"):
    """An organization is founded (roles: organization, founder)."""

    REQUIRED_ROLES = frozenset({"organization"})


class PersonAppointed(Fact, tag="person.appointed", kw_only=True):
    """A person takes a role (roles: appointee, employer)."""

    REQUIRED_ROLES = frozenset({"appointee", "employer"})

    title: ShortText


class PersonDeparted(Fact, tag="person.departed", kw_only=True):
    """A person leaves a role (roles: person, employer)."""

    REQUIRED_ROLES = frozenset({"person", "employer"})

    title: ShortText | None = None


class ModelFact(Fact, kw_only=True):
    """A fact about an AI model (roles: model, developer, and any others such as overseer)."""

    REQUIRED_ROLES = frozenset({"model"})

    parameters: ParameterCount | None = None
    parameters_qualifier: ParameterQualifier = "exact"


class ModelReported(ModelFact, tag="model.reported"):
    """A model is reported to exist or be in development, attributed to a source."""


class ModelAnnounced(ModelFact, tag="model.announced"):
    """A developer announces a model."""


class ModelReleased(ModelFact, tag="model.released"):
    """A model is released."""


class PartnershipFormed(Fact, tag="partnership.formed"):
    """Two or more partners form a partnership (role: partner)."""

    REQUIRED_ROLES = frozenset({"partner"})


class PartnershipEnded(Fact, tag="partnership.ended"):
    """A partnership ends (role: partner)."""

    REQUIRED_ROLES = frozenset({"partner"})


class AcquisitionAnnounced(Fact, tag="acquisition.announced", kw_only=True):
    """An acquisition is announced (roles: acquirer, target)."""

    REQUIRED_ROLES = frozenset({"acquirer", "target"})

    price: Money | None = None


class FundingRaised(Fact, tag="funding.raised", kw_only=True):
    """An organization raises money (roles: recipient, investor)."""

    REQUIRED_ROLES = frozenset({"recipient"})

    amount: Money | None = None
    round: ShortText | None = None


class FactReported(Fact, tag="fact.reported"):
    """A free statement about one or more entities."""


class Correction(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The fields a correction changes; fields left out keep their value."""

    occurred: PartialDateText | None = None
    headline: Headline | None = None
    summary: Summary | None = None
    sources: Sources | None = None
    tags: Tags | None = None
    entities: InvolvedEntities | None = None
    title: ShortText | None = None
    parameters: ParameterCount | None = None
    parameters_qualifier: ParameterQualifier | None = None
    price: Money | None = None
    amount: Money | None = None
    round: ShortText | None = None

    def __post_init__(self) -> None:
        if all(getattr(self, name) is None for name in self.__struct_fields__):
            raise ValueError("a correction must change at least one field")
        check_partial_date("occurred", self.occurred)


class FollowUp(Envelope, kw_only=True):
    """An event about an earlier fact."""

    event_id: UUID


class Verdict(FollowUp, kw_only=True):
    note: Summary | None = None
    sources: Sources = []


class EventConfirmed(Verdict, tag="event.confirmed"):
    """An earlier fact is confirmed."""


class EventDenied(Verdict, tag="event.denied"):
    """An earlier fact is denied."""


class EventCorrected(FollowUp, tag="event.corrected", kw_only=True):
    """Some fields of an earlier fact were wrong; the note is published with the correction."""

    changes: Correction
    note: Summary


class EventRetracted(FollowUp, tag="event.retracted", kw_only=True):
    """An earlier fact is withdrawn; it stays in the log, shown as retracted."""

    reason: Summary


class EventErased(Envelope, tag="event.erased", kw_only=True):
    """Text removed from the log for legal reasons: a fact (with its follow-ups' texts), one
    follow-up's note, or an entity's personal fields (name, aliases, description).

    The erasure itself is the tombstone: what, when, by which key and on which basis."""

    event_id: UUID | None = None
    """A fact, or a follow-up whose note is erased."""
    slug: Slug | None = None
    """An entity whose personal fields are erased."""
    basis: ShortText
    """The legal basis, e.g. "GDPR Art. 17" or "court order"."""
    reference: ShortText
    """The order's or the request's reference."""

    def __post_init__(self) -> None:
        if (self.event_id is None) == (self.slug is None):
            raise ValueError("an erasure names exactly one of event_id and slug")


Event = (
    EntityRegistered
    | EntityUpdated
    | EntityMerged
    | EntityUnmerged
    | OrganizationFounded
    | PersonAppointed
    | PersonDeparted
    | ModelReported
    | ModelAnnounced
    | ModelReleased
    | PartnershipFormed
    | PartnershipEnded
    | AcquisitionAnnounced
    | FundingRaised
    | FactReported
    | EventConfirmed
    | EventDenied
    | EventCorrected
    | EventRetracted
    | EventErased
)

EntityEvent = EntityRegistered | EntityUpdated | EntityMerged | EntityUnmerged
"""An entity's own events, which make its profile."""

EVENT_TYPES: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in get_args(Event)}
"""Each event type's class by its published tag."""
