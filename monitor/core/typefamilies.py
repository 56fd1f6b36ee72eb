"""Native type names of SQL dialects and Arrow, mapped onto the spec's schema type families.

A schema check compares families, not native names, so that `BIGINT` (DuckDB), `bigint` (PostgreSQL)
and `int64` (Arrow) all read as `integer`, and a warehouse migration does not look like schema drift.
"""

from __future__ import annotations

import re
from typing import Final

FAMILIES: Final = (
    "integer", "float", "decimal", "string", "boolean", "date", "timestamp", "binary", "json", "other"
)

# Optional type parameters that do not change the family: (12, 2), (6), ('a', 'b'). Square brackets
# are only accepted where Arrow uses them (timestamp[us, tz=UTC]): elsewhere they mean an array.
_ARGS = r"(\s*\([^()]*\))?"

# First full match wins, on the lower-cased name with whitespace collapsed. Collections (`integer[]`,
# `list<item: int64>`, `struct(...)`, PostgreSQL's `ARRAY`) match nothing and fall through to "other".
_TABLE: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"jsonb?|variant|object|super|extension<arrow\.json>", "json"),
        (r"(timestamp(tz|_s|_ms|_ns|_ntz|_ltz|_tz)?|datetime2?|smalldatetime|datetimeoffset)"
         + rf"({_ARGS}|\[[^\[\]]+\])( with(out)? (local )?time zone)?", "timestamp"),
        (r"date|date32\[day\]|date64\[ms\]", "date"),
        (r"bool(ean)?|logical", "boolean"),
        (r"(decimal(128|256)?|numeric|number|dec|money|smallmoney|bignumeric|bigdecimal)" + _ARGS, "decimal"),
        (r"(float(4|8|16|32|64)?|double( precision)?|real|halffloat|binary_(float|double))" + _ARGS, "float"),
        (r"(u?(tiny|small|medium|big|huge)?int(eger)?\d*|(small|big)?serial|byteint|bignum)" + _ARGS
         + r"( (un)?signed)?( zerofill)?", "integer"),
        (r"((national )?(character|char)( varying)?|n?varchar2?|nchar|bpchar|\"char\""
         + r"|(tiny|medium|long|n)?text|string|large_string|string_view|large_utf8|utf8|name|citext|n?clob"
         + r"|uuid|extension<arrow\.uuid>"
         + r"|enum)" + _ARGS, "string"),
        (r"((tiny|medium|long)?blob|bytea|bytes|(var|large_)?binary|binary_view|image|raw|long raw)" + _ARGS
         + r"|fixed_size_binary\[\d+\]", "binary"),
    )
)
# Arrow dictionaries take the family of their values: dictionary<values=string, indices=int32, ordered=0>.
_DICTIONARY = re.compile(r"dictionary<values=(?P<values>.+), indices=")


def family_of(type_name: str) -> str:
    """The schema type family of a native SQL or Arrow type name; "other" when none fits."""
    name = " ".join(type_name.lower().split())
    dictionary = _DICTIONARY.match(name)
    if dictionary:
        name = dictionary["values"].strip()
    for pattern, family in _TABLE:
        if pattern.fullmatch(name):
            return family
    return "other"
