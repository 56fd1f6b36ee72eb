"""Value types of the config file: durations, percentages, schedules, severities.

Each is an annotated type so that pydantic parses it, reports a clear "expected ..." message and
publishes a pattern in `demon schema`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

from monitor.core.humanize import did_you_mean
from monitor.core.typefamilies import FAMILIES, family_of

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
DURATION_HINT = "a duration like 90s, 15m, 2h, 1d or 1w"
LONGEST = 36500 * 86400.0  # 100 years: durations are added to dates, and Python's end in 9999


def parse_duration(value: Any) -> float:
    """`15m` -> 900.0 seconds."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    if seconds > LONGEST:
        longest = f"{format_duration(LONGEST)} (100 years)"
        raise ValueError(f"expected a duration of at most {longest}, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """900.0 -> `15m`; the largest unit that divides evenly, else seconds with decimals."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


def parse_percentage(value: Any) -> float:
    """`50%` -> 0.5."""
    match = _PERCENT.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected a percentage like 50%, got {value!r}")
    return float(match.group(1)) / 100.0


@dataclass(frozen=True)
class Schedule:
    """`every <duration>` (interval in seconds) or a 5-field cron expression."""

    text: str
    interval: float | None = None
    cron: str | None = None

    def __str__(self) -> str:
        return self.text


def parse_schedule(value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected 'every <duration>' or a 5-field cron expression, got {value!r}")
    text = value.strip()
    if text.startswith("every "):
        return Schedule(text=text, interval=parse_duration(text[len("every ") :]))
    if len(text.split()) != 5:
        raise ValueError(f"expected 'every <duration>' or a 5-field cron expression, got {value!r}")
    from apscheduler.triggers.cron import CronTrigger  # lazy: only configs with cron pay for it

    try:
        trigger = CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:  # e.g. `0 0 31 2 *`
        raise ValueError(f"cron expression {text!r} never fires")
    return Schedule(text=text, cron=text)


def parse_type_family(value: Any) -> str:
    """A schema type family, or a native SQL/Arrow type name read as its family (`BIGINT` -> integer)."""
    family = family_of(value) if isinstance(value, str) else "other"
    if value in FAMILIES or family != "other":
        return family
    expected = f"a type family ({', '.join(FAMILIES)}) or a SQL type name like BIGINT"
    raise ValueError(f"expected {expected}, got {value!r}{did_you_mean(str(value), FAMILIES)}")


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern, "description": DURATION_HINT}),
]
Percentage = Annotated[
    float,
    BeforeValidator(parse_percentage),
    WithJsonSchema({"type": "string", "pattern": _PERCENT.pattern, "description": "a percentage like 50%"}),
]
TypeFamily = Annotated[
    str,
    BeforeValidator(parse_type_family),
    WithJsonSchema({"anyOf": [
        {"enum": list(FAMILIES)},
        {"type": "string", "description": "a SQL or Arrow type name, read as its family (BIGINT: integer)"},
    ]}),
]
ScheduleText = Annotated[
    Schedule,
    BeforeValidator(parse_schedule),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "description": "'every <duration>' or a 5-field cron expression"}),
]


# SQL that demon pastes into its own statements (a metric's `sql`, a dataset's `where`) may not hold `;`,
# anywhere: every dialect ends a statement only with `;`, so without one the statement demon sends is one
# statement whatever the quoting rules of the dialect (PostgreSQL's simple protocol runs all it is given).
_LEADING_NOISE = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)
_SELECT_START = re.compile(r"^(select|with|from|values)\b", re.IGNORECASE)
NO_SEMICOLON = "one statement: ';' may not appear (even in a string literal: write chr(59))"


def one_select(value: str) -> str:
    """A metric's SQL: one SELECT statement (a trailing `;` is allowed and dropped)."""
    text = _single(value)
    if not _SELECT_START.match(_LEADING_NOISE.sub("", text)):
        raise ValueError(f"expected one SELECT statement (SELECT, WITH, FROM or VALUES first), got {value!r}")
    return text


def sql_condition(value: str) -> str:
    """A dataset's `where`: a condition, pasted into demon's statements in parentheses."""
    return _single(value)


# An aggregate expression (a metric's `expression`) becomes one column of the dataset's fused scan. Without a
# SQL parser it is read conservatively: its string literals and quoted names skipped; no comment, `$` or
# backslash, and no string with a prefix (dollar quoting, E'' and U&'' strings would hide text from this
# reading); parentheses balanced; no word of a query or a window, nor a clause or `,` outside parentheses;
# and a call of an aggregate function. What it reads stays in the statement's read-only transaction, like
# any metric's `sql`.
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|--|/\*|[A-Za-z_][A-Za-z0-9_]*|\S""")
_QUERY_WORDS = frozenset({"select", "values", "table", "union", "intersect", "except", "into", "limit",
                          "offset", "having", "over", "window", "fetch", "returning"})
_CLAUSE_WORDS = frozenset({"from", "where", "by", "order", "as"})  # in an expression, inside a call only
AGGREGATE_FUNCTIONS = frozenset({
    "avg", "count", "sum", "min", "max", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop",
    "var_samp", "median", "mode", "percentile_cont", "percentile_disc", "quantile", "quantile_cont",
    "quantile_disc", "approx_count_distinct", "approx_quantile", "bool_and", "bool_or", "every", "count_if",
    "any_value", "arg_min", "arg_max", "argmin", "argmax", "min_by", "max_by", "corr", "covar_pop",
    "covar_samp", "regr_slope", "regr_intercept", "regr_r2", "regr_count", "product", "kurtosis", "skewness",
    "entropy", "mad", "fsum", "favg", "bit_and", "bit_or", "bit_xor",
})
AGGREGATE_HINT = "one aggregate over the dataset's rows, like avg(amount) or count(*) FILTER (WHERE x < 0)"


def aggregate_expression(value: str) -> str:
    """A metric's `expression`: one aggregate expression, a column of the fused scan (see `_TOKEN`)."""
    text = _single(value)
    why = _not_an_aggregate(text)
    if why:
        raise ValueError(f"expected {AGGREGATE_HINT}: {why}, got {value!r}")
    return text


def _not_an_aggregate(text: str) -> str | None:
    """Why `text` is not one aggregate expression that stays one column of a select list, or None."""
    if "\\" in text:
        return "'\\' may not appear (strings escape differently in each database: write chr(92))"
    depth, aggregated, previous = 0, False, ""
    for found in _TOKEN.finditer(text):
        token, word = found[0], found[0].lower()
        if token in ("--", "/*"):
            return "comments may not appear"
        if token == "$":
            return "'$' may not appear outside a string (dollar quoting)"
        if token in ("'", '"', "`"):
            return "a string or quoted name is not closed"
        before = text[found.start() - 1] if found.start() else " "
        if token[0] == "'" and (before.isalnum() or before in "_&"):
            return "a string may have no prefix (E'...', U&'...')"
        if word in _QUERY_WORDS:
            return f"{token.upper()} may not appear: an aggregate, not a query (write the metric as `sql:`)"
        if depth == 0 and (word in _CLAUSE_WORDS or token == ","):
            return f"{token.upper()} outside parentheses: not one expression"
        if token == "(":
            aggregated = aggregated or previous in AGGREGATE_FUNCTIONS
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0:
                return "a ')' closes no '('"
        previous = word
    if depth:
        return "a '(' is not closed"
    if not aggregated:
        return "it calls no aggregate function (avg, sum, count, min, max, ...)"
    return None


def _single(value: str) -> str:
    text = value.strip().rstrip(";").rstrip()
    if ";" in text:
        raise ValueError(f"expected {NO_SEMICOLON}, got {value!r}")
    return text


NAME_HINT = "a name of letters (any script), digits, '_' and '-' that starts with a letter or '_'"
# For editors. ECMAScript's and Python's regexes share no class of Unicode letters, so this pattern checks the
# ASCII characters only (letters, digits, '_', '-'; no digit or '-' first) and lets others through: demon's
# own check, `parse_name`, is the exact one.
_NOT_IN_NAMES = r"\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"  # ASCII but letters, digits, '_', '-'
NAME_SCHEMA_PATTERN = rf"^[^{_NOT_IN_NAMES}\d-][^{_NOT_IN_NAMES}]*$"


def parse_name(value: str) -> str:
    """A name of sources, datasets and checks: letters, digits and marks as in identifiers of any script (so
    `données` and Hindi's vowel signs), '_' and '-'. Check ids, Prometheus labels and the state store take
    any text; what they must not get is a '.' (check ids are dotted) or a character that cannot be seen."""
    if value.startswith("-") or not value.replace("-", "_").isidentifier():
        raise ValueError(f"expected {NAME_HINT}, got {value!r}")
    return value


def parse_prefix(value: str) -> str:
    """A lake dataset's `path`, which must stay under its source's root: `..` or a leading `/` would leave it
    (a `files` source would read any file of the machine)."""
    if value.startswith("/") or ".." in value.split("/"):
        expected = "a prefix under the source's root, without '..' segments and not absolute"
        raise ValueError(f"expected {expected}, got {value!r}")
    return value


def _empty_to_none(value: Any) -> Any:
    """`${VAR:-}` yields an empty string: an optional setting left empty means unset."""
    return None if value == "" else value


OptionalText = Annotated[str | None, BeforeValidator(_empty_to_none)]
Prefix = Annotated[str, AfterValidator(parse_prefix)]
Name = Annotated[
    str,
    AfterValidator(parse_name),
    WithJsonSchema({"type": "string", "pattern": NAME_SCHEMA_PATTERN, "description": NAME_HINT}),
]
NonNegative = Annotated[float, Field(ge=0)]
SelectSql = Annotated[str, AfterValidator(one_select)]
AggregateSql = Annotated[str, AfterValidator(aggregate_expression)]
SqlCondition = Annotated[str, AfterValidator(sql_condition)]
