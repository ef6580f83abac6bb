"""The same types without their constraints, for reading back what was checked when written.

Every event in the log passed the full checks of ``schemas.events`` when it was appended, and
projections read each one back, a whole log of them in a rebuild. Most of a decode's time goes to
the checks (patterns, lengths, ``__post_init__``), so reading back with them costs four times
reading without. ``unchecked(T)`` derives, once, a twin of ``T`` in which every struct is a
subclass of the original with the same fields, tags and encoding, minus the constraints: what
it decodes passes ``isinstance`` and ``match`` as the original would, and encodes the same.
"""

from __future__ import annotations

import functools
import operator
import types
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import msgspec

_CONTAINERS = (list, dict, tuple, set, frozenset)


def _no_checks(_: msgspec.Struct) -> None:
    """Stands in for a struct's own ``__post_init__`` checks."""


@functools.cache
def unchecked(type_: Any) -> Any:
    """``type_`` with every ``Meta`` constraint and ``__post_init__`` check left out."""
    origin = get_origin(type_)
    if origin is Annotated:
        return unchecked(get_args(type_)[0])
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        return _unchecked_struct(type_)
    if origin in (Union, types.UnionType):
        return functools.reduce(operator.or_, [unchecked(arg) for arg in get_args(type_)])
    if origin in _CONTAINERS:
        return origin[tuple(unchecked(arg) for arg in get_args(type_))]
    return type_


def _unchecked_struct(struct: type[msgspec.Struct]) -> type[msgspec.Struct]:
    hints = get_type_hints(struct, include_extras=True)
    originals = msgspec.structs.fields(struct)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field in originals:
        field_type = unchecked(hints[field.name])
        if field.default is not msgspec.NODEFAULT:
            fields.append((field.name, field_type, field.default))
        elif field.default_factory is not msgspec.NODEFAULT:
            fields.append((field.name, field_type, msgspec.field(default_factory=field.default_factory)))
        else:
            fields.append((field.name, field_type))
    config = struct.__struct_config__
    # Only where the original checks something: a hook costs a call on every decode.
    namespace = {"__post_init__": _no_checks} if hasattr(struct, "__post_init__") else {}
    subclass: type[msgspec.Struct] = msgspec.defstruct(
        struct.__name__,
        fields,
        bases=(struct,),
        module=struct.__module__,
        namespace=namespace,
        kw_only=True,
        tag=config.tag,
        tag_field=config.tag_field,
        omit_defaults=config.omit_defaults,
        frozen=config.frozen,
        rename={field.name: field.encode_name for field in originals},
    )
    return subclass
