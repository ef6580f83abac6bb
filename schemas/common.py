"""The small wire types every event shares: slugs, language maps, sources, entity references."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from schemas.dates import parse_partial_date

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*(?!\n)$"
TAG_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*(?!\n)$"
ROLE_PATTERN = r"^[a-z]+(?:_[a-z]+)*(?!\n)$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-[A-Z]{2}|-\d{3})?(?!\n)$"
WIKIDATA_PATTERN = r"^Q[1-9]\d{0,11}(?!\n)$"
# No control character but tab and line breaks, and no noncharacter: texts go into XML (the
# feeds), which refuses them, and into browsers, which show them as garbage. Written with \u
# escapes so that the contract's readers (ECMA regexes) read it as msgspec does.
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]*$"
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*(?!\n)$"

Slug = Annotated[
    str,
    Meta(
        pattern=SLUG_PATTERN,
        min_length=1,
        max_length=80,
        description="An entity's identifier: lowercase letters, digits and single hyphens.",
        examples=["mai-1"],
    ),
]
Tag = Annotated[str, Meta(pattern=TAG_PATTERN, min_length=1, max_length=50, examples=["large-models"])]
Role = Annotated[
    str,
    Meta(
        pattern=ROLE_PATTERN,
        min_length=1,
        max_length=40,
        description="What the entity is in this event: developer, subject, appointee, employer, partner...",
        examples=["developer"],
    ),
]
LanguageCode = Annotated[
    str, Meta(pattern=LANGUAGE_PATTERN, max_length=15, description="A BCP 47 language tag.", examples=["en"])
]
ShortText = Annotated[str, Meta(min_length=1, max_length=300, pattern=TEXT_PATTERN)]
LongText = Annotated[str, Meta(min_length=1, max_length=5000, pattern=TEXT_PATTERN)]
Url = Annotated[str, Meta(pattern=URL_PATTERN, max_length=2000, examples=["https://example.com/story"])]
WikidataId = Annotated[str, Meta(pattern=WIKIDATA_PATTERN, examples=["Q2283"])]

Headline = Annotated[
    dict[LanguageCode, ShortText],
    Meta(
        min_length=1,
        max_length=20,
        description="The same short text in one or more languages, keyed by language tag.",
        examples=[{"en": "Microsoft reported to be training MAI-1"}],
    ),
]
Summary = Annotated[
    dict[LanguageCode, LongText],
    Meta(min_length=1, max_length=20, description="A longer text in one or more languages."),
]
PartialDateText = Annotated[
    str,
    Meta(
        min_length=4,
        max_length=40,
        description=(
            "When it happened, at the precision known: a year (2010), a month (2024-05), "
            "a day (2024-05-06) or an RFC 3339 instant with a time zone."
        ),
        examples=["2024-05"],
    ),
]
FactStatus = Literal["reported", "confirmed", "denied"]
EntityKind = Literal["organization", "person", "model", "product"]


def check_partial_date(field: str, value: str | None) -> None:
    """Reject a partial date that is no real date, naming the field."""
    if value is not None:
        try:
            parse_partial_date(value)
        except ValueError as reason:
            # The field name leads so that the error can be reported at the field's own path.
            raise ValueError(f"{field}: {reason}") from None


class Source(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Where a fact comes from."""

    url: Url
    publisher: ShortText | None = None
    title: ShortText | None = None
    published: PartialDateText | None = None
    language: LanguageCode | None = None

    def __post_init__(self) -> None:
        check_partial_date("published", self.published)


class EntityRef(Struct, kw_only=True, forbid_unknown_fields=True):
    """An entity an event involves, and the part it plays."""

    slug: Slug
    role: Role


class Money(Struct, kw_only=True, forbid_unknown_fields=True):
    """An amount in whole units of an ISO 4217 currency."""

    amount: Annotated[int, Meta(ge=0, le=10**15)]
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}(?!\n)$", examples=["USD"])]
