"""Request bodies decoded strictly, straight from bytes, by msgspec.

Litestar's default path decodes JSON to Python objects and then converts them leniently
("1" becomes 1), and reports errors as 400s without a precise path. Dateline wants the
opposite on writes: one strict pass from bytes into the tagged union, malformed JSON as 400,
and invalid fields as 422 with the field's JSON path. A DTO is Litestar's hook for exactly
that; it still documents the body in OpenAPI from the same type.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import msgspec
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from service.http.problems import InvalidBody, MalformedBody


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
        try:
            return self.decoder.decode(value)
        except msgspec.ValidationError as error:
            raise InvalidBody(error) from None
        except msgspec.DecodeError as error:
            raise MalformedBody(str(error)) from None
        except RecursionError:
            # Skipping the unknown fields of a tagged union recurses once per level of nesting.
            raise MalformedBody("the JSON nests arrays and objects too deep") from None

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
