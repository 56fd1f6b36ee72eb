"""Properties of compiled quality rules: the failing rows demon counts in the warehouse are the rows
Pandera fails on the same data pulled into pandas, for every rule demon compiles to SQL, on DuckDB
and on the real PostgreSQL, with NULLs, NaN, infinities, empty and non-ASCII strings, line breaks
and values equal to the rules' bounds. Each example checks one to three rules of a kind at once,
each on its own columns of one table (see tests/quality_support.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.quality.sql import PREDICATES
from tests.quality_support import (
    ALPHABET,
    KINDS,
    Case,
    Kind,
    Row,
    Warehouse,
    assert_same_counts,
    case_rows,
    cells,
    is_null,
    one_column_case,
    plain_values,
    texts,
)

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    # One database per test function, its table rebuilt per example, is the point.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MAX_CASES = 3  # rules per example

# Regular expressions written the same in Python, PostgreSQL (ARE) and RE2 (DuckDB), each with strings
# it matches at the start, in the middle, only across a line break, or nearly. Not portable, so not
# here: `$` (Python's also matches before a final line break), `\b` (a backspace in PostgreSQL), and
# `\d`, `\w`, `\s` on non-ASCII text (Unicode in Python and in PostgreSQL under an ICU collation; ASCII
# in RE2, and `\d`, `\s` in PostgreSQL under libc's C.UTF-8 too).
PATTERNS: dict[str, tuple[str, ...]] = {
    r"[a-c]+": ("abc", "xca", "\nb", "d"),
    r"\d{2}": ("12", "a12", "1\n2", "1"),
    r"x.y": ("x.y", "xay", "x\ny", "x\ry", "ax😀y"),
    r"^é": ("é", "éa", "e\u0301", "a\né"),
    r"[^a]b": ("bb", "\nb", "ab", "b"),
    r"a|xy": ("a", "bxy", "x\ny", "b"),
    r"(?:ab)+c?": ("ababc", "xabc", "a\nb", "ac"),
    r"中文?": ("中", "中文", "a中", "文"),
    "😀": ("😀", "a😀", "😀😀", ""),
    r"\.": (".", "a.", "a", "\n."),
    r"b\n": ("b\n", "ab\nc", "b", "b\r\n"),
}
# Regex rules read strings without Unicode digits: Python's `\d` matches the Arabic-Indic three, RE2's
# does not (`str_contains(r"\d{2}")` on "1\u0663": Pandera 0 failing, demon 1 on DuckDB; the same on
# PostgreSQL with the default C.UTF-8 collation, while the ICU collation used here agrees with Python).
REGEX_STRINGS = texts(ALPHABET)
HALVES = (-1.5, 0.5, 2.5)
LIKE_AFFIXES = ("%", "_", "a%", "_b", "%_", "/", "\\", "/%", "\\_")
LENGTH_BOUNDS = (("min_value",), ("max_value",), ("min_value", "max_value"), ("exact_value",))
LENGTH_SEEDS = ("", "a", "é", "e\u0301", "😀", "中文", "ab\n", "a😀é中", "\r\n")

# isin/notin sets of numbers hold no null with ignore_na=False: demon lets a null in the set match the
# column's nulls (NULL and NaN), as pandas does for strings, but pandas' match of a null depends on the
# dtype it infers. A float64 column's `isin([None])` is false for NaN (isin([None]) on an integer column
# [NULL, 0]: Pandera 2 failing, demon 1), and an all-NULL column is object-typed, whose `isin([nan])` is
# false for None (isin([nan]) on a float column [NULL, NULL]: Pandera 2 failing, demon 0).
SET_KEYS = frozenset({"allowed_values", "forbidden_values"})

Drawn = tuple[dict[str, Any], list[Any]]  # a check's arguments, and values on or next to its bounds
Arguments = Callable[[st.DrawFn, Kind], Drawn]


def bounds(kind: Kind) -> st.SearchStrategy[Any]:
    """A rule's bound: any value of the kind, infinities included; integers' bounds may be fractions.

    Not NaN: SQL orders NaN above every number where pandas compares it false (less_than(nan) on a
    float column [1.0]: Pandera 1 failing, demon 0).
    """
    if kind == "float":
        return plain_values(kind).filter(lambda value: not math.isnan(value))
    if kind == "integer":
        return st.one_of(plain_values(kind), st.sampled_from(HALVES))
    return plain_values(kind)


def _neighbours(kind: Kind, value: Any) -> list[Any]:
    if kind == "integer":
        return [math.floor(value) - 1, math.floor(value), math.ceil(value), math.ceil(value) + 1]
    if kind == "string":
        return [value, value + "a", value[:-1], value + "\n"]
    return [value, math.nextafter(value, -math.inf), math.nextafter(value, math.inf)]


def _one_bound(key: str) -> Arguments:
    def arguments(draw: st.DrawFn, kind: Kind) -> Drawn:
        bound = draw(bounds(kind))
        return {key: bound}, _neighbours(kind, bound)

    return arguments


def _in_range(draw: st.DrawFn, kind: Kind) -> Drawn:
    low, high = sorted([draw(bounds(kind)), draw(bounds(kind))])
    include_min, include_max = draw(st.booleans()), draw(st.booleans())
    if low == high:  # Pandera refuses an empty interval
        include_min = include_max = True
    arguments = {"min_value": low, "max_value": high, "include_min": include_min, "include_max": include_max}
    return arguments, _neighbours(kind, low) + _neighbours(kind, high)


def _value_set(key: str) -> Arguments:
    """isin/notin: a set that is sometimes empty and sometimes holds the data's own values, or a null."""

    def arguments(draw: st.DrawFn, kind: Kind) -> Drawn:
        values = draw(st.lists(cells(kind), max_size=4))
        return {key: values}, values

    return arguments


def _pattern(draw: st.DrawFn, kind: Kind) -> Drawn:
    pattern = draw(st.sampled_from(sorted(PATTERNS)))
    return {"pattern": pattern}, list(PATTERNS[pattern])


def _affix(draw: st.DrawFn, kind: Kind) -> Drawn:
    """A prefix or suffix, often with LIKE's wildcards; data with the wildcards taken literally or not."""
    string = draw(st.one_of(texts(), st.sampled_from(LIKE_AFFIXES)))
    wild = string.replace("%", "xy").replace("_", "z")
    return {"string": string}, [string, string + "a", "a" + string, string[1:], string + "\n", wild]


def _str_length(draw: st.DrawFn, kind: Kind) -> Drawn:
    keys = draw(st.sampled_from(LENGTH_BOUNDS))
    sizes = sorted(draw(st.integers(0, 4)) for _ in keys)  # Pandera refuses min > max
    return dict(zip(keys, sizes, strict=True)), list(LENGTH_SEEDS)


@dataclass(frozen=True)
class Predicate:
    """How to draw one built-in check: its arguments, the column kinds it applies to, their strings."""

    arguments: Arguments
    kinds: tuple[Kind, ...] = KINDS
    strings: st.SearchStrategy[str] | None = None


STRINGS: tuple[Kind, ...] = ("string",)
BUILT_IN: dict[str, Predicate] = {
    "equal_to": Predicate(_one_bound("value")),
    "not_equal_to": Predicate(_one_bound("value")),
    "greater_than": Predicate(_one_bound("min_value")),
    "greater_than_or_equal_to": Predicate(_one_bound("min_value")),
    "less_than": Predicate(_one_bound("max_value")),
    "less_than_or_equal_to": Predicate(_one_bound("max_value")),
    "in_range": Predicate(_in_range),
    "isin": Predicate(_value_set("allowed_values")),
    "notin": Predicate(_value_set("forbidden_values")),
    "str_matches": Predicate(_pattern, STRINGS, REGEX_STRINGS),
    "str_contains": Predicate(_pattern, STRINGS, REGEX_STRINGS),
    "str_startswith": Predicate(_affix, STRINGS),
    "str_endswith": Predicate(_affix, STRINGS),
    "str_length": Predicate(_str_length, STRINGS),
}
# Few distinct values, so that duplicates are common: NULL and NaN, 0.0 and -0.0, look-alike strings.
POOLS: dict[Kind, tuple[Any, ...]] = {
    "integer": (0, 1, 2),
    "float": (math.nan, 0.0, -0.0, math.inf, -math.inf, 1.5),
    "string": ("", "a", "a ", "A", "é", "e\u0301", "😀", "\n"),
}


def pooled(kind: Kind) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.sampled_from(POOLS[kind]), plain_values(kind))


@st.composite
def built_in_cases(draw: st.DrawFn, name: str) -> Case:
    """A built-in check with drawn arguments and ignore_na, on a column of a kind it applies to."""
    predicate = BUILT_IN[name]
    kind = draw(st.sampled_from(predicate.kinds))
    ignore_na = draw(st.booleans())
    arguments, seeds = predicate.arguments(draw, kind)
    if not ignore_na and kind != "string":
        arguments = {
            key: [item for item in value if not is_null(item)] if key in SET_KEYS else value
            for key, value in arguments.items()
        }
    check = getattr(pa.Check, name)(**arguments, ignore_na=ignore_na)
    label = f"{name}({arguments}, ignore_na={ignore_na}) on {kind}"
    return one_column_case(label, name, kind, cells(kind, seeds, predicate.strings), checks=check)


@st.composite
def not_nullable_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    return one_column_case(f"not_nullable on {kind}", "not_nullable", kind, pooled(kind), nullable=False)


@st.composite
def unique_column_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(KINDS))
    return one_column_case(f"unique on {kind}", "field_uniqueness", kind, pooled(kind), unique=True)


def unique_columns_case(kinds: tuple[Kind, Kind]) -> Case:
    def schema(names: Sequence[str]) -> Any:
        columns = {name: pa.Column(None, nullable=True) for name in names}
        return pa.DataFrameSchema(columns, unique=list(names))

    label = f"unique on ({kinds[0]}, {kinds[1]})"
    columns = (pooled(kinds[0]), pooled(kinds[1]))
    return Case(label, "multiple_fields_uniqueness", kinds, columns, schema)


@st.composite
def unique_columns_cases(draw: st.DrawFn) -> Case:
    return unique_columns_case((draw(st.sampled_from(KINDS)), draw(st.sampled_from(KINDS))))


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A DuckDB file, or a fresh database of the real PostgreSQL, for one test function."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    found = Warehouse(request.param, url, tmp_path)
    yield found
    found.close()


def check_cases(warehouse: Warehouse, data: st.DataObject, cases: st.SearchStrategy[Case]) -> None:
    """Draw a few cases and rows for them, and compare demon's counts with Pandera's."""
    drawn = data.draw(st.lists(cases, min_size=1, max_size=MAX_CASES), label="cases")
    rows = data.draw(case_rows(drawn), label="rows")
    assert_same_counts(warehouse, drawn, rows)


def test_every_compiled_predicate_has_a_property() -> None:
    assert set(BUILT_IN) == set(PREDICATES)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@SETTINGS
@given(data=st.data())
def test_a_built_in_check_fails_the_rows_pandera_fails(
    warehouse: Warehouse, name: str, data: st.DataObject
) -> None:
    check_cases(warehouse, data, built_in_cases(name))


@SETTINGS
@given(data=st.data())
def test_not_nullable_fails_nulls_and_nan(warehouse: Warehouse, data: st.DataObject) -> None:
    check_cases(warehouse, data, not_nullable_cases())


@SETTINGS
@given(data=st.data())
def test_a_unique_column_fails_its_duplicated_rows(warehouse: Warehouse, data: st.DataObject) -> None:
    check_cases(warehouse, data, unique_column_cases())


@SETTINGS
@given(data=st.data())
def test_unique_columns_fail_their_duplicated_rows(warehouse: Warehouse, data: st.DataObject) -> None:
    check_cases(warehouse, data, unique_columns_cases())


# Nulls and NaN where Pandera keeps them (ignore_na=False), each a bug demon once had.
NULL_CASES: dict[str, tuple[Any, Kind, list[Row]]] = {
    "nan-fails-greater_than": (pa.Check.greater_than(5, ignore_na=False), "float", [(math.nan,), (6.0,)]),
    "nan-fails-greater_than_or_equal_to": (
        pa.Check.greater_than_or_equal_to(-math.inf, ignore_na=False), "float", [(math.nan,)]
    ),
    "nan-fails-equal_to-nan": (pa.Check.equal_to(math.nan, ignore_na=False), "float", [(math.nan,), (1.0,)]),
    "null-in-isin-set": (pa.Check.isin(["a", None], ignore_na=False), "string", [("a",), (None,), ("b",)]),
    "nan-in-isin-set": (pa.Check.isin([1.0, math.nan], ignore_na=False), "float", [(math.nan,), (1.0,)]),
    "null-in-notin-set": (pa.Check.notin(["a", None], ignore_na=False), "string", [(None,), ("b",)]),
}


@pytest.mark.parametrize("case", sorted(NULL_CASES))
def test_nulls_kept_by_a_check_count_as_in_pandera(warehouse: Warehouse, case: str) -> None:
    check, kind, rows = NULL_CASES[case]
    assert_same_counts(warehouse, [one_column_case(case, check.name, kind, st.none(), checks=check)], rows)


# Uniqueness at the edges of the distinct count that tells whether anything is duplicated (NULL and NaN
# are one null, 0.0 and -0.0 one number, a key of nulls only is no duplicate, a partly null one may be),
# and with the grouping that counts the failing rows, when there are some.
def unique_column(kind: Kind) -> Case:
    return one_column_case(f"unique on {kind}", "field_uniqueness", kind, st.none(), unique=True)


UNIQUE_CASES: dict[str, tuple[Case, list[Row]]] = {
    "nulls-are-no-duplicates": (unique_column("integer"), [(None,), (None,), (1,)]),
    "nan-and-null-are-no-duplicates": (unique_column("float"), [(math.nan,), (None,), (math.nan,), (1.5,)]),
    "zero-and-negative-zero": (unique_column("float"), [(0.0,), (-0.0,), (1.0,)]),
    "strings-equal-by-code-point": (unique_column("string"), [("é",), ("e\u0301",), ("a",), ("A",), ("a",)]),
    "keys-of-nulls-only-are-no-duplicates": (
        unique_columns_case(("integer", "string")), [(None, None), (None, None), (1, "a"), (1, "b")]
    ),
    "partly-null-keys-are": (
        unique_columns_case(("integer", "string")),
        [(1, None), (1, None), (None, "a"), (None, "a"), (None, "b")],
    ),
    "nan-and-null-in-a-key-are-one-null": (
        unique_columns_case(("float", "integer")), [(math.nan, 1), (None, 1), (math.nan, None), (None, None)]
    ),
    "no-duplicated-key": (unique_columns_case(("integer", "integer")), [(1, 1), (1, 2), (2, 1), (None, 1)]),
}


@pytest.mark.parametrize("case", sorted(UNIQUE_CASES))
def test_uniqueness_counts_as_in_pandera(warehouse: Warehouse, case: str) -> None:
    rule, rows = UNIQUE_CASES[case]
    assert_same_counts(warehouse, [rule], rows)
