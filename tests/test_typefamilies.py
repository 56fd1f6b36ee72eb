"""Native type names of DuckDB, PostgreSQL, other warehouses and Arrow onto the spec's type families."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from checks.kinds.schema import SchemaParams
from monitor.app.config import config_json_schema
from monitor.core.typefamilies import FAMILIES, family_of
from tests.pgserver import PostgresServer

# Names exactly as DuckDB 1.5 reports them in information_schema.columns.data_type.
DUCKDB = {
    "TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer",
    "HUGEINT": "integer", "UTINYINT": "integer", "USMALLINT": "integer", "UINTEGER": "integer",
    "UBIGINT": "integer", "UHUGEINT": "integer", "BIGNUM": "integer",
    "FLOAT": "float", "DOUBLE": "float",
    "DECIMAL(12,2)": "decimal", "DECIMAL(18,3)": "decimal", "DECIMAL(38,10)": "decimal",
    "VARCHAR": "string", "UUID": "string", "ENUM('a', 'b')": "string",
    "BOOLEAN": "boolean", "DATE": "date",
    "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp", "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp", "TIMESTAMP_NS": "timestamp",
    "BLOB": "binary", "JSON": "json",
    "TIME": "other", "TIME WITH TIME ZONE": "other", "INTERVAL": "other", "BIT": "other",
    "INTEGER[]": "other", "INTEGER[3]": "other", "STRUCT(a INTEGER)": "other",
    "MAP(VARCHAR, INTEGER)": "other", "UNION(a INTEGER, b VARCHAR)": "other",
}
# Names exactly as PostgreSQL 15 reports them in information_schema.columns.data_type.
POSTGRESQL = {
    "smallint": "integer", "integer": "integer", "bigint": "integer",
    "real": "float", "double precision": "float",
    "numeric": "decimal", "money": "decimal",
    "character varying": "string", "character": "string", "text": "string", "name": "string",
    "uuid": "string", '"char"': "string",
    "boolean": "boolean", "date": "date",
    "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamp",
    "bytea": "binary", "json": "json", "jsonb": "json",
    "time without time zone": "other", "time with time zone": "other", "interval": "other",
    "ARRAY": "other", "USER-DEFINED": "other", "bit": "other", "bit varying": "other", "inet": "other",
    "xml": "other", "oid": "other", "tsvector": "other", "point": "other",
}
# str() of pyarrow DataType objects.
ARROW = {
    "int8": "integer", "int16": "integer", "int32": "integer", "int64": "integer",
    "uint8": "integer", "uint16": "integer", "uint32": "integer", "uint64": "integer",
    "halffloat": "float", "float": "float", "double": "float",
    "decimal128(12, 2)": "decimal", "decimal256(40, 5)": "decimal",
    "string": "string", "large_string": "string", "string_view": "string", "extension<arrow.uuid>": "string",
    "bool": "boolean", "date32[day]": "date", "date64[ms]": "date",
    "timestamp[s]": "timestamp", "timestamp[us]": "timestamp", "timestamp[ns, tz=UTC]": "timestamp",
    "timestamp[us, tz=Europe/Paris]": "timestamp",
    "binary": "binary", "large_binary": "binary", "binary_view": "binary", "fixed_size_binary[16]": "binary",
    "extension<arrow.json>": "json",
    "dictionary<values=string, indices=int32, ordered=0>": "string",
    "dictionary<values=timestamp[ms, tz=UTC], indices=int8, ordered=1>": "timestamp",
    "time32[ms]": "other", "time64[us]": "other", "duration[s]": "other", "month_day_nano_interval": "other",
    "null": "other", "list<item: int64>": "other", "large_list<item: string>": "other",
    "struct<a: int64, b: string>": "other", "map<string, int64>": "other",
}
# Other warehouses (declared or reported names) and the spec's own examples.
OTHERS = {
    "NUMERIC(12,2)": "decimal", "NUMBER(38,0)": "decimal", "BIGNUMERIC": "decimal",
    "DECIMAL(10, 0)": "decimal",
    "INT64": "integer", "INT UNSIGNED": "integer", "tinyint(1)": "integer", "BIGSERIAL": "integer",
    "BYTEINT": "integer", "mediumint(8) unsigned zerofill": "integer",
    "FLOAT64": "float", "FLOAT(53)": "float", "BINARY_DOUBLE": "float",
    "STRING": "string", "VARCHAR(16777216)": "string", "NVARCHAR2(20)": "string", "TEXT": "string",
    "character varying(255)": "string", "national character varying(10)": "string", "longtext": "string",
    "CLOB": "string", "bpchar": "string", "char(3)": "string",
    "BOOL": "boolean",
    "DATETIME": "timestamp", "datetime2(7)": "timestamp", "DATETIMEOFFSET": "timestamp",
    "TIMESTAMP_NTZ(9)": "timestamp", "TIMESTAMP_LTZ": "timestamp", "TIMESTAMP_TZ(3)": "timestamp",
    "timestamp(6) without time zone": "timestamp", "TIMESTAMP WITH LOCAL TIME ZONE": "timestamp",
    "TIMESTAMPTZ": "timestamp",
    "VARBINARY(16)": "binary", "BYTES": "binary", "longblob": "binary", "RAW(16)": "binary",
    "VARIANT": "json", "OBJECT": "json", "SUPER": "json",
    "GEOGRAPHY": "other", "ARRAY<INT64>": "other", "": "other",
}
CASES = [
    pytest.param(name, family, id=f"{origin}:{name}")
    for origin, table in (("duckdb", DUCKDB), ("postgresql", POSTGRESQL), ("arrow", ARROW), ("other", OTHERS))
    for name, family in table.items()
]


@pytest.mark.parametrize(("type_name", "family"), CASES)
def test_family_of(type_name: str, family: str) -> None:
    assert family_of(type_name) == family


@pytest.mark.parametrize("table", [DUCKDB, POSTGRESQL, ARROW], ids=["duckdb", "postgresql", "arrow"])
def test_every_family_is_reachable(table: dict[str, str]) -> None:
    """DuckDB, PostgreSQL and Arrow each have a native type in every family."""
    assert set(table.values()) == set(FAMILIES)


def test_families_are_the_spec_families() -> None:
    spec = ("integer", "float", "decimal", "string", "boolean", "date", "timestamp", "binary", "json",
            "other")
    assert spec == FAMILIES
    assert config_json_schema()["$defs"]["SchemaParams"]["properties"]["columns"][
        "additionalProperties"]["anyOf"][0] == {"enum": list(spec)}


@pytest.mark.parametrize(("written", "family"), [
    ("integer", "integer"), ("bigint", "integer"), ("VARCHAR(20)", "string"), ("timestamptz", "timestamp"),
    ("NUMERIC(12,2)", "decimal"), ("other", "other"), ("double precision", "float"),
])
def test_schema_columns_take_families_or_sql_type_names(written: str, family: str) -> None:
    assert SchemaParams(columns={"c": written}).columns == {"c": family}


@pytest.mark.parametrize(("written", "hint"), [
    ("integr", " (did you mean 'integer'?)"), ("geometry", ""), (12, ""),
])
def test_an_unknown_type_is_refused_with_the_families(written: object, hint: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SchemaParams(columns={"c": written})
    message = refused.value.errors()[0]["msg"]
    assert message.endswith(f"got {written!r}{hint}"), message
    assert "integer, float, decimal" in message


def test_case_and_spacing_do_not_matter() -> None:
    assert family_of("  Timestamp   With Time  Zone ") == "timestamp"
    assert family_of("Character Varying(10)") == "string"


# The type of every declared column, and the family its reported name must map to.
DECLARED = {
    "smallint": "integer", "integer": "integer", "bigint": "integer", "real": "float",
    "double precision": "float", "numeric(12, 2)": "decimal", "varchar(10)": "string", "text": "string",
    "char(3)": "string", "uuid": "string", "boolean": "boolean", "date": "date", "timestamp": "timestamp",
    "timestamp with time zone": "timestamp", "json": "json", "time": "other", "interval": "other",
    "integer[]": "other",
}
DUCKDB_ONLY = {"hugeint": "integer", "ubigint": "integer", "blob": "binary", "timestamp_ns": "timestamp",
               "struct(a integer)": "other", "map(varchar, integer)": "other"}
POSTGRESQL_ONLY = {"serial": "integer", "money": "decimal", "name": "string", "bytea": "binary",
                   "jsonb": "json", "timestamp(3) without time zone": "timestamp", "inet": "other"}
QUERY = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'typed' ORDER BY 1"


def create_typed(declared: dict[str, str]) -> str:
    columns = ", ".join(f"c{index} {type_name}" for index, type_name in enumerate(declared))
    return f"CREATE TABLE typed ({columns})"


def expected(declared: dict[str, str]) -> dict[str, str]:
    return {f"c{index}": family for index, family in enumerate(declared.values())}


def test_names_duckdb_reports(tmp_path: Path) -> None:
    declared = DECLARED | DUCKDB_ONLY
    with duckdb.connect(str(tmp_path / "typed.duckdb")) as conn:
        conn.execute(create_typed(declared))
        reported = conn.execute(QUERY).fetchall()
    assert {name: family_of(type_name) for name, type_name in reported} == expected(declared)


def test_names_postgresql_reports(postgres: PostgresServer, postgres_url: str) -> None:
    declared = DECLARED | POSTGRESQL_ONLY
    database = postgres_url.rsplit("/", 1)[1]
    postgres.psql(create_typed(declared), database)
    reported = [line.split("|") for line in postgres.psql(QUERY, database).splitlines()]
    assert {name: family_of(type_name) for name, type_name in reported} == expected(declared)
