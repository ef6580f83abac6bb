"""Request bodies decoded strictly, straight from bytes, by msgspec.

Litestar's default path decodes JSON to Python objects and then converts them leniently
("1" becomes 1), and reports errors as 400s without a precise path. Dateline wants the
opposite on writes: one strict pass from bytes into the tagged union, malformed JSON as 400,
and invalid fields as 422 with the field's JSON path. A DTO is Litestar's hook for exactly
that; it still documents the body in OpenAPI from the same type.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from itertools import accumulate
from typing import Any, ClassVar

import msgspec
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from service.http.problems import InvalidBody, MalformedBody

MAX_DEPTH = 32
"""How deep a body's arrays and objects may nest. The deepest body the API takes nests six
levels (a batch's correction's sources: ``{"events": [{"changes": {"sources": [{...}]}}]}``), so
32 leaves room for event types to come. Checked before decoding: msgspec recurses once per level
(skipping the unknown fields of a tagged union too) and would stop only at Python's recursion
limit, a thousand levels down."""
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = [{ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(byte, 0) for byte in range(256)]


def _nests_deeper(body: bytes, most: int) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than ``most``: brackets in its
    strings aside, each opening one level and each closing ending one. All of it runs in C (a
    regular expression, a translation, an accumulation), a few milliseconds for a MiB."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= most:
        return False
    return max(accumulate(map(_STEP.__getitem__, brackets))) > most


class StrictBody(AbstractDTO[Any]):
    """Decode the body as ``model_type``; subclass through ``StrictBody.of(SomeType)``."""

    decoder: ClassVar[msgspec.json.Decoder[Any]]

    @classmethod
    def of(cls, model_type: Any) -> type[StrictBody]:
        return type(
            f"StrictBody[{getattr(model_type, '__name__', 'union')}]",
            (cls,),
            {"model_type": model_type, "decoder": msgspec.json.Decoder(model_type)},
        )

    def decode_bytes(self, value: bytes) -> Any:
        if _nests_deeper(value, MAX_DEPTH):
            too_deep = f"Arrays and objects nest more than {MAX_DEPTH} levels deep"
            raise InvalidBody(msgspec.ValidationError(too_deep))
        try:
            return self.decoder.decode(value)
        except msgspec.ValidationError as error:
            raise InvalidBody(error) from None
        except msgspec.DecodeError as error:
            raise MalformedBody(str(error)) from None

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(value, self.model_type, strict=True)
        except msgspec.ValidationError as error:
            raise InvalidBody(error) from None

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        """Nothing to prepare: the decoder was built with the class."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        schema: Reference | Schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(
                cls.model_type, kwarg_definition=field_definition.kwarg_definition
            )
        )
        return schema

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        return False  # request bodies only: responses are encoded the usual way

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False
