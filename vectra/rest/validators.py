"""Connexion's request checks, made to refuse the way the services do.

Connexion checks parameters and bodies against ``openapi.yaml`` before a handler runs. Its own
validators answer 500 to bytes that are not UTF-8 or JSON nested past the parser's depth, and
phrase (and log) a schema violation with the refused value in it, which may be a secret. These
answer 400 instead, and phrase each violation with ``vectra.services.input_errors``, the wording
the services use, so that REST and gRPC refuse the same input with the same message.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError

from vectra.domain.errors import InvalidInput
from vectra.services import input_errors

__all__ = ["VALIDATORS"]

_KINDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def _pointer(path: Iterable[Any], root: str = "") -> str:
    """``roles[0]``, ``a.b``: where in the input a value is."""
    pointer = root
    for step in path:
        pointer += f"[{step}]" if isinstance(step, int) else (f".{step}" if pointer else str(step))
    return pointer


def _refusal(error: ValidationError, root: str = "") -> InvalidInput:
    """The services' phrase for one schema violation; never the refused value itself."""
    keyword, limit, schema = error.validator, error.validator_value, error.schema
    pointer = _pointer(error.absolute_path, root) or "body"
    if keyword == "required":
        missing = next((name for name in limit if name not in error.instance), limit[0])
        return input_errors.required(_pointer([missing], _pointer(error.absolute_path, root)))
    if keyword == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(str(name) for name in error.instance if name not in known)
        return input_errors.unknown_field(_pointer(extra[:1], _pointer(error.absolute_path, root)))
    if keyword in ("minimum", "maximum") or (keyword == "type" and {"minimum", "maximum"} <= set(schema)):
        return input_errors.out_of_range(pointer, schema.get("minimum"), schema.get("maximum"))
    if keyword == "type":
        kinds = [limit] if isinstance(limit, str) else list(limit)
        return input_errors.malformed(pointer, " or ".join(_KINDS.get(k, k) for k in kinds))
    if keyword == "minLength" and limit == 1:
        return input_errors.required(pointer)  # empty is missing, as for gRPC
    if keyword == "maxLength":
        return input_errors.too_long(pointer, limit)
    if keyword == "maxItems":
        return input_errors.too_many(pointer, limit)
    if keyword == "uniqueItems":
        return input_errors.repeated(pointer)
    if keyword == "enum":
        return input_errors.not_one_of(pointer, limit)
    if keyword == "format":
        return input_errors.malformed(pointer, "a UUID" if limit == "uuid" else f"a valid {limit}")
    return input_errors.malformed(pointer, "valid")


class _JsonBody(JSONRequestBodyValidator):
    async def wrap_receive(self, receive: Any, *, scope: Any) -> tuple[Any, Any]:
        try:
            return await super().wrap_receive(receive, scope=scope)
        except BadRequestProblem:  # Connexion's own "RequestBody is required", for an empty body
            raise input_errors.required("body") from None

    async def _parse(self, stream: AsyncIterator[bytes], scope: Any) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None
        try:
            if codecs.lookup(self._encoding).name != "utf-8":  # RFC 8259 §8.1; the handler reads UTF-8
                raise LookupError(self._encoding)
            body = json.loads(raw.decode("utf-8"))
            # JSON's \ud800 escapes decode to lone surrogates, which no later step can encode: refuse them here
            json.dumps(body, ensure_ascii=False).encode("utf-8")
            return body
        except (UnicodeDecodeError, UnicodeEncodeError, LookupError):
            raise InvalidInput("the body must be JSON in UTF-8", pointer="body") from None
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                               pointer="body") from None
        except RecursionError:
            raise InvalidInput("the body is nested too deeply", pointer="body") from None

    def _validate(self, body: Any) -> None:
        if body is None:
            if not self._required:
                return  # an optional body left out (approve and deny take an empty POST)
            raise input_errors.required("body")
        try:
            self._validator.validate(body)
        except ValidationError as exc:
            raise _refusal(exc) from None
        except RecursionError:
            raise InvalidInput("the body is nested too deeply", pointer="body") from None


class _Parameters(ParameterValidator):
    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict, param_name: str | None = None) -> Any:
        if value is None:
            return ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        schema = param.get("schema", param)
        try:
            Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).validate(value)
        except ValidationError as exc:
            raise _refusal(exc, root=param["name"]) from None
        return None


VALIDATORS: dict[str, Any] = {
    "parameter": _Parameters,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": _JsonBody}),
}
