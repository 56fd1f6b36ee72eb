"""Pydantic's validation errors, retold as `file:line: path: expected ..., got ...` issues."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from monitor.core.config.document import Document, Loc
from monitor.core.config.errors import ConfigError, ConfigIssue
from monitor.core.config.models import CHANNEL_NAME_PATTERN, LISTEN_PATTERN, TOPIC_ARN_PATTERN, Config, Model
from monitor.core.humanize import did_you_mean

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}
_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_PATTERNS = {
    CHANNEL_NAME_PATTERN: "a name of ASCII letters, digits, '_' and '-' that starts with a letter or '_'"
    " (it goes into HTTP headers)",
    LISTEN_PATTERN: "HOST:PORT with a port from 0 to 65535",
    TOPIC_ARN_PATTERN: "an SNS topic ARN (arn:aws:sns:...)",
}
DICT_KEY = "[key]"


def validate(document: Document, model: type[Config]) -> Config:
    """The config of a document (`model`: the one of the registered check kinds), or a `ConfigError` listing
    every validation problem."""
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(translate(document, exc)) from None


def translate(document: Document, exc: ValidationError) -> list[ConfigIssue]:
    return [document.issue(*_issue(document.data, error)) for error in exc.errors(include_url=False)]


def _issue(data: Any, error: ErrorDetails) -> tuple[Loc, str]:
    loc = _walk(data, error["loc"])
    if error["type"].startswith("union_tag_"):
        return _union_tag(loc, error)
    return loc, _MESSAGES.get(error["type"], _expected)(error)


def _walk(data: Any, loc: tuple[str | int, ...]) -> Loc:
    """The path the user wrote: loc elements the data lacks (union tags, validator names) are dropped.

    The last element stays (it names a missing key); `[key]` marks a bad mapping key, already in the path.
    """
    path: list[str | int] = []
    for position, part in enumerate(loc):
        if part == DICT_KEY:
            continue
        if _has(data, part):
            data = data[part]
            path.append(part)
        elif position == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _has(data: Any, part: str | int) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def _union_tag(loc: Loc, error: ErrorDetails) -> tuple[Loc, str]:
    ctx = error.get("ctx", {})
    key = str(ctx.get("discriminator", "'kind'")).strip("'")
    if error["type"] == "union_tag_invalid":
        return (*loc, key), f"expected one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    if not isinstance(error["input"], dict):
        return loc, f"expected a mapping, got {_shown(error['input'])}"
    return (*loc, key), f"missing required key {key!r}"


def _unknown_key(error: ErrorDetails) -> str:
    key = str(error["loc"][-1])  # a key of another section is no hint: it is not taken here
    return f"unknown key {key!r}" + did_you_mean(key, [name for name in _field_names() if name != key])


def _missing(error: ErrorDetails) -> str:
    return f"missing required key {error['loc'][-1]!r}"


def _value_error(error: ErrorDetails) -> str:
    return str(error.get("ctx", {}).get("error", error["msg"]))


def _expected(error: ErrorDetails) -> str:
    what = _expected_text(error)
    return f"expected {what}, got {_shown(error['input'])}" if what else error["msg"]


def _expected_text(error: ErrorDetails) -> str | None:
    ctx = error.get("ctx", {})
    if "expected" in ctx:
        return str(ctx["expected"])
    if "pattern" in ctx:
        return _PATTERNS.get(ctx["pattern"], f"text matching {ctx['pattern']}")
    if "min_length" in ctx:
        return f"at least {ctx['min_length']} item(s)"
    bound = next((key for key in _BOUNDS if key in ctx), None)
    if bound is not None:
        return f"a number {_BOUNDS[bound]} {ctx[bound]:g}"
    return _EXPECTED.get(error["type"])


def _shown(value: Any) -> str:
    """The offending input, briefly: a whole mapping or list would drown the message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


_MESSAGES: dict[str, Callable[[ErrorDetails], str]] = {
    "extra_forbidden": _unknown_key,
    "missing": _missing,
    "value_error": _value_error,
    "assertion_error": _value_error,
}


@cache
def _field_names() -> list[str]:
    """Every key any part of the file may have, for "did you mean" hints."""
    fields = (field.alias or name for model in _models(Model) for name, field in model.model_fields.items())
    return sorted(set(fields))


def _models(base: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for model in base.__subclasses__():
        yield model
        yield from _models(model)
