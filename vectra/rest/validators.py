"""Connexion's request checks, made to refuse the way the services do.

Connexion checks parameters and bodies against ``openapi.yaml`` before a handler runs. Its own
validators answer 500 to bytes that are not UTF-8 or JSON nested past the parser's depth, and
phrase (and log) a schema violation with the refused value in it, which may be a secret. These
answer 400 instead, and phrase each violation with ``vectra.services.input_errors``, the wording
the services use, so that REST and gRPC refuse the same input with the same message.

Some rules can't be phrased from the schema alone (a ``pattern``; a range of seconds): such a schema carries the
services' phrase as ``x-refusal`` (``must be 12 to 72 printable ASCII characters``, ``must not be blank``), and a
value off its pattern or out of its range is refused as ``<pointer> <x-refusal>``.
``oneOf`` (or ``not``) over ``required`` alone says "exactly one (or at most one) of these fields":
refused as ``give either a or b``, as the services say it; ``not: {enum: [word]}`` is a reserved word.
Formats are checked as the services parse them (``uuid`` too, which Draft 4 leaves out), so an empty or
malformed id is a 400 here.
"""

from __future__ import annotations

import codecs
import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, FormatChecker, ValidationError

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


def _formats() -> FormatChecker:
    """Draft 4's format checks plus ``uuid``, read as the services read an id (``inputs.parse_uuid``)."""
    checker = copy.copy(Draft4Validator.FORMAT_CHECKER)
    checker.checkers = dict(checker.checkers)

    @checker.checks("uuid", raises=ValueError)
    def is_uuid(value: object) -> bool:
        return not isinstance(value, str) or (len(value) <= 64 and bool(uuid.UUID(value)))

    return checker


_FORMATS = _formats()


def _alternatives(keyword: str, limit: Any) -> list[list[str]] | None:
    """The fields each alternative requires: ``oneOf: [{required: [a]}, {required: [b, c], not: ...}]`` (a
    branch's ``not`` keeps the others' fields out of it) or ``not: {required: [a, b]}`` (one field each)."""
    if keyword == "not" and isinstance(limit, dict) and set(limit) == {"required"}:
        names = [[name] for name in limit["required"]]
    elif keyword == "oneOf" and all(isinstance(branch, dict) and "required" in branch
                                    and set(branch) <= {"required", "not"} and branch["required"]
                                    for branch in limit):
        names = [list(branch["required"]) for branch in limit]
    else:
        return None
    return names if len(names) >= 2 else None


def _choice(alternatives: list[list[str]], instance: Any, base: str) -> InvalidInput:
    """Exactly one alternative, named by its first field: the fields it lacks when one alone was chosen
    (``to is required``), else ``give either sessionId or agentId``."""
    chosen = [names for names in alternatives if isinstance(instance, dict) and names[0] in instance]
    if len(chosen) == 1:
        missing = [name for name in chosen[0] if name not in instance]
        if missing:
            return input_errors.required(_pointer([missing[0]], base))
    return input_errors.either([_pointer([names[0]], base) for names in alternatives])


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
    if keyword == "not" and isinstance(limit, dict) and len(limit.get("enum", ())) == 1:
        return input_errors.reserved(pointer, limit["enum"][0])
    ranged = {"minimum", "maximum"} <= set(schema)
    if "x-refusal" in schema and (keyword in ("pattern", "minimum", "maximum") or (keyword == "type" and ranged)):
        return input_errors.ruled(pointer, schema["x-refusal"])
    alternatives = _alternatives(keyword, limit)
    if alternatives:
        return _choice(alternatives, error.instance, _pointer(error.absolute_path, root))
    if keyword == "required":
        missing = next((name for name in limit if name not in error.instance), limit[0])
        return input_errors.required(_pointer([missing], _pointer(error.absolute_path, root)))
    if keyword == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(str(name) for name in error.instance if name not in known)
        return input_errors.unknown_field(_pointer(extra[:1], _pointer(error.absolute_path, root)))
    if keyword in ("minimum", "maximum") or (keyword == "type" and ranged):
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


_NO_BODY = object()


class _JsonBody(JSONRequestBodyValidator):
    @property
    def _validator(self) -> Draft4Validator:
        return Draft4RequestValidator(self._schema, format_checker=_FORMATS)

    async def wrap_receive(self, receive: Any, *, scope: Any) -> tuple[Any, Any]:
        try:
            return await super().wrap_receive(receive, scope=scope)
        except BadRequestProblem:  # Connexion's own "RequestBody is required", for an empty body
            raise input_errors.required("body") from None

    async def _parse(self, stream: AsyncIterator[bytes], scope: Any) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return _NO_BODY
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
        if body is _NO_BODY:  # not JSON's null, which is a body and no object
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
            if param.get("required") and parameter_type == "query":
                raise input_errors.required(param["name"])  # in the services' words, with its pointer
            return ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        schema = param.get("schema", param)
        try:
            Draft4Validator(schema, format_checker=_FORMATS).validate(value)
        except ValidationError as exc:
            raise _refusal(exc, root=param["name"]) from None
        return None


VALIDATORS: dict[str, Any] = {
    "parameter": _Parameters,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": _JsonBody}),
}
