"""The seed story as data: MAI-1, Mustafa Suleyman and the companies around them (spring 2024).

Ids are fixed, so loading the demo twice replays the same batch and appends nothing new.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from schemas import BatchAppend

_NAMESPACE = uuid.UUID("6f1d7f0e-3c52-4d8e-9a0e-5b7f2f4f1a11")


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, name)


THE_INFORMATION = {
    "url": "https://www.theinformation.com/articles/meet-mai-1-microsoft-readies-new-ai-model-to-compete-with-google-openai",
    "publisher": "The Information",
    "title": "Meet MAI-1: Microsoft Readies New AI Model to Compete With Google, OpenAI",
    "published": "2024-05-06",
    "language": "en",
}
MICROSOFT_SULEYMAN = {
    "url": "https://blogs.microsoft.com/blog/2024/03/19/mustafa-suleyman-deepmind-and-inflection-co-founder-joins-microsoft-to-lead-copilot/",
    "publisher": "Microsoft",
    "title": "Mustafa Suleyman, DeepMind and Inflection Co-founder, joins Microsoft to lead Copilot",
    "published": "2024-03-19",
    "language": "en",
}
MICROSOFT_OPENAI = {
    "url": "https://news.microsoft.com/2019/07/22/openai-forms-exclusive-computing-partnership-with-microsoft-to-build-new-azure-ai-supercomputing-technologies/",
    "publisher": "Microsoft",
    "title": "OpenAI forms exclusive computing partnership with Microsoft to build new Azure AI supercomputing technologies",
    "published": "2019-07-22",
    "language": "en",
}
GOOGLE_GEMMA = {
    "url": "https://blog.google/technology/developers/gemma-open-models/",
    "publisher": "Google",
    "title": "Gemma: Introducing new state-of-the-art open models",
    "published": "2024-02-21",
    "language": "en",
}
MICROSOFT_PHI_3 = {
    "url": "https://azure.microsoft.com/en-us/blog/introducing-phi-3-redefining-whats-possible-with-slms/",
    "publisher": "Microsoft",
    "title": "Introducing Phi-3: Redefining what's possible with SLMs",
    "published": "2024-04-23",
    "language": "en",
}
WIKIPEDIA_DEEPMIND = {
    "url": "https://en.wikipedia.org/wiki/Google_DeepMind",
    "publisher": "Wikipedia",
    "title": "Google DeepMind",
    "language": "en",
}
WIKIPEDIA_INFLECTION = {
    "url": "https://en.wikipedia.org/wiki/Inflection_AI",
    "publisher": "Wikipedia",
    "title": "Inflection AI",
    "language": "en",
}
# The French report the project was born from; it has no public address in our files, so its
# URL uses the reserved .invalid domain rather than a made-up real one.
FRENCH_REPORT = {
    "url": "https://seed.dateline.invalid/mia-1-report-fr",
    "title": "Microsoft pourrait travailler sur un grand LLM nommé MIA-1",
    "published": "2024-05",
    "language": "fr",
}


def _entity(slug: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "entity.registered",
        "id": str(demo_id(f"entity/{slug}")),
        "slug": slug,
        "kind": kind,
        "name": name,
        **fields,
    }


def _fact(
    key: str, kind: str, occurred: str, en: str, fr: str, entities: list[tuple[str, str]], **fields: Any
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": str(demo_id(f"fact/{key}")),
        "occurred": occurred,
        "headline": {"en": en, "fr": fr},
        "entities": [{"slug": slug, "role": role} for slug, role in entities],
        "status": "confirmed",
        **fields,
    }


DEMO_EVENTS: list[dict[str, Any]] = [
    _entity("microsoft", "organization", "Microsoft", wikidata_id="Q2283"),
    _entity(
        "microsoft-ai",
        "organization",
        "Microsoft AI",
        description={"en": "Microsoft's consumer AI division, formed in March 2024."},
    ),
    _entity("openai", "organization", "OpenAI", wikidata_id="Q21708200"),
    _entity("google", "organization", "Google", wikidata_id="Q95"),
    _entity(
        "deepmind",
        "organization",
        "DeepMind",
        aliases=["DeepMind Technologies"],
        description={"en": "AI lab co-founded in London in 2010; part of Google since 2014."},
    ),
    _entity(
        "google-deepmind",
        "organization",
        "Google DeepMind",
        description={"en": "Google's AI research lab, the name DeepMind has carried since 2023."},
    ),
    _entity("inflection-ai", "organization", "Inflection AI", aliases=["Inflection"]),
    _entity("nvidia", "organization", "Nvidia", aliases=["NVIDIA"], wikidata_id="Q182477"),
    _entity("mustafa-suleyman", "person", "Mustafa Suleyman"),
    _entity(
        "mai-1",
        "model",
        "MAI-1",
        aliases=["MIA-1", "MAI 1"],
        description={
            "en": "A large language model Microsoft is reported to be training.",
            "fr": "Un grand modèle de langage que Microsoft entraînerait.",
        },
    ),
    _entity("gemma", "model", "Gemma"),
    _entity("phi-3-mini", "model", "Phi-3 Mini", aliases=["Phi-3"]),
    _fact(
        "deepmind-founded",
        "organization.founded",
        "2010",
        "Mustafa Suleyman co-founds DeepMind",
        "Mustafa Suleyman cofonde DeepMind",
        [("deepmind", "organization"), ("mustafa-suleyman", "founder")],
        tags=["ai-labs"],
        sources=[WIKIPEDIA_DEEPMIND],
    ),
    _fact(
        "microsoft-openai",
        "partnership.formed",
        "2019-07",
        "Microsoft and OpenAI form a partnership; Microsoft's AI tools run on OpenAI's models",
        "Microsoft et OpenAI s'associent ; les outils d'IA de Microsoft s'appuient sur les modèles d'OpenAI",
        [("microsoft", "partner"), ("openai", "partner")],
        tags=["partnerships"],
        sources=[MICROSOFT_OPENAI],
    ),
    _fact(
        "inflection-founded",
        "organization.founded",
        "2022",
        "Mustafa Suleyman co-founds Inflection AI",
        "Mustafa Suleyman cofonde Inflection AI",
        [("inflection-ai", "organization"), ("mustafa-suleyman", "founder")],
        tags=["ai-labs"],
        sources=[WIKIPEDIA_INFLECTION],
    ),
    _fact(
        "suleyman-inflection-ceo",
        "person.appointed",
        "2022",
        "Mustafa Suleyman becomes CEO of Inflection AI",
        "Mustafa Suleyman devient PDG d'Inflection AI",
        [("mustafa-suleyman", "appointee"), ("inflection-ai", "employer")],
        title="CEO",
        sources=[WIKIPEDIA_INFLECTION],
    ),
    _fact(
        "gemma-released",
        "model.released",
        "2024-02",
        "Google releases Gemma, a model small enough to run on a computer",
        "Google publie Gemma, un modèle assez petit pour tenir sur un ordinateur",
        [("gemma", "model"), ("google", "developer")],
        tags=["small-models"],
        sources=[GOOGLE_GEMMA],
    ),
    _fact(
        "suleyman-leaves-inflection",
        "person.departed",
        "2024-03",
        "Mustafa Suleyman leaves Inflection AI",
        "Mustafa Suleyman quitte Inflection AI",
        [("mustafa-suleyman", "person"), ("inflection-ai", "employer")],
        title="CEO",
        sources=[MICROSOFT_SULEYMAN],
    ),
    _fact(
        "suleyman-microsoft-ai-ceo",
        "person.appointed",
        "2024-03",
        "Mustafa Suleyman is appointed CEO of Microsoft AI",
        "Mustafa Suleyman est nommé PDG de Microsoft AI",
        [("mustafa-suleyman", "appointee"), ("microsoft-ai", "employer"), ("microsoft", "parent")],
        title="CEO",
        sources=[MICROSOFT_SULEYMAN],
    ),
    _fact(
        "phi-3-mini-released",
        "model.released",
        "2024-04",
        "Microsoft releases Phi-3 Mini, a small, specialised model with 3.8 billion parameters",
        "Microsoft publie Phi-3 Mini, un petit modèle spécialisé de 3,8 milliards de paramètres",
        [("phi-3-mini", "model"), ("microsoft", "developer")],
        parameters=3_800_000_000,
        tags=["small-models"],
        sources=[MICROSOFT_PHI_3],
    ),
    _fact(
        "mai-1-reported",
        "model.reported",
        "2024-05",
        "Microsoft reported to be training MIA-1, up to 500 billion parameters, to rival the best models",
        "Microsoft travaillerait sur MIA-1, jusqu'à 500 milliards de paramètres, pour rivaliser "
        "avec les meilleurs modèles",
        [("mai-1", "model"), ("microsoft", "developer"), ("mustafa-suleyman", "overseer")],
        status="reported",
        parameters=500_000_000_000,
        parameters_qualifier="up_to",
        sources=[THE_INFORMATION, FRENCH_REPORT],
        tags=["large-models"],
        summary={
            "en": "Mustafa Suleyman is said to oversee the model, meant to compete with OpenAI's and "
            "Google's largest.",
            "fr": "Mustafa Suleyman superviserait le développement de ce modèle.",
        },
    ),
    _fact(
        "mai-1-servers",
        "fact.reported",
        "2024-05",
        "Microsoft reported to have built large servers with many Nvidia GPUs to train MAI-1",
        "Microsoft aurait construit de grands serveurs dotés de nombreux GPU Nvidia pour entraîner MAI-1",
        [("microsoft", "subject"), ("nvidia", "supplier"), ("mai-1", "model")],
        status="reported",
        sources=[FRENCH_REPORT],
        tags=["large-models", "infrastructure"],
    ),
    {
        "type": "event.corrected",
        "id": str(demo_id("correction/mai-1-name")),
        "event_id": str(demo_id("fact/mai-1-reported")),
        "changes": {
            "headline": {
                "en": "Microsoft reported to be training MAI-1, up to 500 billion parameters, to rival the best "
                "models",
                "fr": "Microsoft travaillerait sur MAI-1, jusqu'à 500 milliards de paramètres, pour rivaliser "
                "avec les meilleurs modèles",
            }
        },
        "note": {
            "en": "The model is called MAI-1; an earlier version of this item used the report's spelling, "
            "MIA-1.",
            "fr": "Le modèle s'appelle MAI-1 ; une version précédente reprenait la graphie du rapport, MIA-1.",
        },
    },
    {
        # A silent fix: the servers were in The Information's report too. Readers see the source,
        # not a correction; the fact's history keeps the amendment.
        "type": "event.corrected",
        "id": str(demo_id("amendment/mai-1-servers-source")),
        "event_id": str(demo_id("fact/mai-1-servers")),
        "kind": "amendment",
        "changes": {"sources": [FRENCH_REPORT, THE_INFORMATION]},
        "note": {"en": "Added The Information's report, which also describes the servers, as a source."},
    },
]


def demo_batches() -> list[BatchAppend]:
    """The story as a newsroom records it: the facts, then (in an append of its own, so at a
    later instant that "as known at" reads and a fact's history can tell apart) the correction
    and the amendment."""
    facts = [event for event in DEMO_EVENTS if not event["type"].startswith("event.")]
    follow_ups = [event for event in DEMO_EVENTS if event["type"].startswith("event.")]
    return [msgspec.convert({"events": events}, BatchAppend) for events in (facts, follow_ups)]


EMBARGOED = _fact(
    "mai-1-embargoed",
    "fact.reported",
    "2024-05",
    "Microsoft is said to plan a preview of MAI-1 (held under embargo until a minute after the demo loads)",
    "Microsoft prévoirait une présentation de MAI-1 (sous embargo jusqu'à une minute après le chargement)",
    [("mai-1", "subject"), ("microsoft", "subject")],
    status="reported",
    sources=[THE_INFORMATION],
)


def embargoed_batch(publish_at: datetime) -> BatchAppend:
    """A fact held under embargo until ``publish_at``, which then appears by itself. Its id is
    fixed like the others': loaded again, it replays, held or published."""
    return msgspec.convert({"events": [{**EMBARGOED, "publish_at": publish_at.isoformat()}]}, BatchAppend)
