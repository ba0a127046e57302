"""PATCH bodies: a field left out stays as it is; one with no empty value (a flag, a role, a settings object)
may be left out but not sent as null. `Omittable[T]` is that field: None in Python means "left out", null in
the body is a 422 naming the field, and the OpenAPI document offers T alone. Declare it `= None`."""

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, ValidationInfo

T = TypeVar("T")


def _not_null(value: T | None, info: ValidationInfo) -> T:
    # Defaults are not validated: only a null sent in the body gets here as None.
    if value is None:
        raise ValueError(f"{info.field_name}: null is not a value of this field; leave it out to keep it as it is")
    return value


def _without_null(schema: dict[str, Any]) -> None:
    """T's schema in place of `anyOf: [T, null]`, without the `default: null` that says nothing to a client."""
    kinds = [kind for kind in schema.pop("anyOf") if kind != {"type": "null"}]
    schema.pop("default", None)
    schema.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})


Omittable = Annotated[T | None, AfterValidator(_not_null), Field(json_schema_extra=_without_null)]
