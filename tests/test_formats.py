"""Facts of lake files: real Parquet, CSV and JSON-lines files in tmp_path, read through LocalStore."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import json
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.probes import Column
from checks.sources import formats
from checks.sources.formats import (
    CSV_BLOCK,
    CSV_MAX_BLOCK,
    FORMATS,
    TAIL_BYTES,
    FileFacts,
    FormatError,
    csv_facts,
    jsonl_facts,
    parquet_facts,
)
from checks.sources.localstore import LocalStore
from checks.sources.objects import ObjectStoreError

UNICODE_KEY = "raw/dt=2026-11-23/données du jour 1.parquet"


class _Stream(io.BufferedReader):
    """A streamed object, every read recorded (and slowed or failed when the store says so)."""

    def __init__(self, handle: BinaryIO, store: RecordingStore) -> None:
        super().__init__(cast(io.BufferedReader, handle).detach())
        self._store = store

    def read(self, size: int | None = -1, /) -> bytes:
        store = self._store
        if store.fail_after is not None and store.bytes_read >= store.fail_after:
            raise ObjectStoreError("connection to the store lost mid-read")
        time.sleep(store.read_delay)
        if self.closed:  # closed before or while this read was on its way
            store.reads_after_close += 1
        data = super().read(size)
        store.bytes_read += len(data)
        return data


class RecordingStore(LocalStore):
    """LocalStore that also records the length of each tail read and the bytes streamed by `open`;
    its streams can be made slow (`read_delay` seconds a read) or fail after `fail_after` bytes."""

    def __init__(self, root: Path, fail_after: int | None = None, read_delay: float = 0.0) -> None:
        super().__init__(root)
        self.tails: list[int] = []
        self.tail_bytes = 0
        self.bytes_read = 0
        self.reads_after_close = 0
        self.fail_after = fail_after
        self.read_delay = read_delay
        self._in_tail = False

    def tail(self, key: str, length: int) -> tuple[bytes, int]:
        self.tails.append(length)
        self._in_tail = True  # LocalStore.tail reads through open: leave that handle unwrapped
        try:
            data, size = super().tail(key, length)
        finally:
            self._in_tail = False
        self.tail_bytes += len(data)
        return data, size

    def open(self, key: str) -> BinaryIO:
        handle = super().open(key)
        if self._in_tail:
            return handle
        return _Stream(handle, self)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path)


def write_parquet(root: Path, key: str, table: pa.Table, **options: Any) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **options)
    return path


def write_bytes(root: Path, key: str, data: bytes) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# Parquet ------------------------------------------------------------------------------------------------


def test_parquet_rows_and_columns_of_several_row_groups_cost_one_get(store: RecordingStore) -> None:
    table = pa.table({"id": pa.array(range(10_000), pa.int64()), "name": [f"n{i}" for i in range(10_000)]})
    write_parquet(store.root, "raw/orders.parquet", table, row_group_size=1_000)
    assert pq.ParquetFile(store.root / "raw/orders.parquet").metadata.num_row_groups == 10

    facts = parquet_facts(store, "raw/orders.parquet")

    assert facts == FileFacts(rows=10_000, columns=(Column("id", "int64"), Column("name", "string")))
    assert store.requests == {"get": 1}
    assert store.tails == [TAIL_BYTES]


def test_parquet_reads_only_the_tail_of_a_large_file(store: RecordingStore) -> None:
    blobs = pa.array([os.urandom(1024) for _ in range(2048)], pa.binary())
    path = write_parquet(store.root, "raw/big.parquet", pa.table({"blob": blobs}), compression="none")
    assert path.stat().st_size > 2_000_000

    facts = parquet_facts(store, "raw/big.parquet")

    assert facts.rows == 2048
    assert facts.columns == (Column("blob", "binary"),)
    assert store.tails == [TAIL_BYTES]
    assert store.tail_bytes == TAIL_BYTES
    assert store.bytes_read == 0  # never streamed
    assert store.requests == {"get": 1}


@pytest.mark.parametrize(
    "table",
    [
        pa.table({f"column_{i:04d}": pa.array([i], pa.int32()) for i in range(3000)}),
        pa.table({"id": [1, 2, 3]}).replace_schema_metadata({"notes": "x" * 200_000}),
    ],
    ids=["3000 columns", "large key-value metadata"],
)
def test_parquet_footer_longer_than_the_first_read_costs_a_second_exact_read(
    store: RecordingStore, table: pa.Table
) -> None:
    path = write_parquet(store.root, "raw/wide.parquet", table)
    footer = int.from_bytes(path.read_bytes()[-8:-4], "little")
    assert footer + 8 > TAIL_BYTES

    facts = parquet_facts(store, "raw/wide.parquet")

    assert facts.rows == table.num_rows
    assert [column.name for column in facts.columns] == table.column_names
    assert store.tails == [TAIL_BYTES, footer + 8]
    assert store.requests == {"get": 2}


class _ReplacingStore(RecordingStore):
    """A store whose objects are overwritten with a small Parquet file right after each tail read."""

    def tail(self, key: str, length: int) -> tuple[bytes, int]:
        found = super().tail(key, length)
        write_parquet(self.root, key, pa.table({"other": [1]}))
        return found


def test_parquet_replaced_between_its_two_reads_is_a_format_error(tmp_path: Path) -> None:
    table = pa.table({f"column_{i:04d}": pa.array([i], pa.int32()) for i in range(3000)})
    write_parquet(tmp_path, "raw/wide.parquet", table)
    store = _ReplacingStore(tmp_path)
    with pytest.raises(
        FormatError, match=r"^Parquet file raw/wide\.parquet changed while its footer was read"
    ):
        parquet_facts(store, "raw/wide.parquet")
    assert store.requests == {"get": 2}


def test_parquet_smaller_than_one_read_is_read_once(store: RecordingStore) -> None:
    path = write_parquet(store.root, "tiny.parquet", pa.table({"x": [1]}))
    assert path.stat().st_size < TAIL_BYTES
    assert parquet_facts(store, "tiny.parquet").rows == 1
    assert store.requests == {"get": 1}


def test_parquet_maxima_per_type_over_row_groups(store: RecordingStore) -> None:
    paris = timezone(timedelta(hours=1))
    table = pa.table(
        {
            "n": pa.array([3, 9, None, 4], pa.int64()),
            "at_utc": pa.array(
                [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 11, 23, 10, 30, tzinfo=UTC), None, None],
                pa.timestamp("us", tz="UTC"),
            ),
            # Instants given in UTC: once pandera is imported in the process, pyarrow converts an aware
            # datetime by its wall time, ignoring a non-UTC offset (seen with pandera 0.35, pyarrow 26).
            "at_paris": pa.array(
                [datetime(2026, 11, 23, 12, tzinfo=paris).astimezone(UTC), None,
                 datetime(2026, 1, 1, tzinfo=paris).astimezone(UTC), None],
                pa.timestamp("ms", tz="Europe/Paris"),
            ),
            "at_naive": pa.array(
                [None, datetime(2026, 5, 1), datetime(2026, 11, 23, 8), None], pa.timestamp("ns")
            ),
            "day": pa.array([date(2026, 11, 22), date(2026, 11, 23), None, date(2025, 1, 1)]),
            "name": pa.array(["apple", "zoë", None, "mango"]),
            "late_only": pa.array([None, None, None, 7], pa.int32()),  # first row groups: no min/max
            "nothing": pa.array([None, None, None, None], pa.int64()),
        }
    )
    write_parquet(store.root, "raw/m.parquet", table, row_group_size=1)
    wanted = [*table.column_names, "missing"]

    maxima = parquet_facts(store, "raw/m.parquet", wanted).maxima

    assert maxima == {
        "n": 9,
        "at_utc": datetime(2026, 11, 23, 10, 30, tzinfo=UTC),
        "at_paris": datetime(2026, 11, 23, 11, tzinfo=UTC),
        "at_naive": datetime(2026, 11, 23, 8),
        "day": date(2026, 11, 23),
        "name": "zoë",
        "late_only": 7,
    }
    assert maxima["at_utc"].tzinfo is UTC and maxima["at_paris"].tzinfo is UTC
    assert maxima["at_naive"].tzinfo is None
    assert store.requests == {"get": 1}


def test_parquet_maxima_only_of_the_columns_asked(store: RecordingStore) -> None:
    write_parquet(store.root, "m.parquet", pa.table({"a": [1, 2], "b": [5, 6]}))
    assert parquet_facts(store, "m.parquet", ["b"]).maxima == {"b": 6}
    assert parquet_facts(store, "m.parquet").maxima == {}


def test_parquet_without_statistics_has_no_maxima(store: RecordingStore) -> None:
    write_parquet(store.root, "m.parquet", pa.table({"a": [1, 2]}), write_statistics=False)
    facts = parquet_facts(store, "m.parquet", ["a"])
    assert facts.rows == 2
    assert facts.maxima == {}


def test_parquet_column_types_are_arrow_names(store: RecordingStore) -> None:
    table = pa.table(
        {
            "at": pa.array([datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "day": pa.array([date(2026, 1, 1)]),
            "tags": pa.array([["a"]]),
            "kind": pa.array(["x"]).dictionary_encode(),
        }
    )
    write_parquet(store.root, "t.parquet", table)
    assert parquet_facts(store, "t.parquet").columns == (
        Column("at", "timestamp[us, tz=UTC]"),
        Column("day", "date32[day]"),
        Column("tags", "list<element: string>"),
        Column("kind", "dictionary<values=string, indices=int32, ordered=0>"),
    )


def test_parquet_with_no_rows(store: RecordingStore) -> None:
    write_parquet(store.root, "e.parquet", pa.table({"a": pa.array([], pa.int64())}))
    assert parquet_facts(store, "e.parquet", ["a"]) == FileFacts(rows=0, columns=(Column("a", "int64"),))


def _valid_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(1000))}), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_valid_parquet()[:-100], "does not end with PAR1"),
        (_valid_parquet()[:-1], "does not end with PAR1"),
        (os.urandom(5000), "does not end with PAR1"),
        (b"", "too small"),
        (b"PAR1", "too small"),
        (os.urandom(3000) + (2000).to_bytes(4, "little") + b"PAR1", "corrupt Parquet file"),
        (b"PAR1" + (10**6).to_bytes(4, "little") + b"PAR1", "footer of 1000000 bytes"),
        (b"PAR1" + os.urandom(50) + (5).to_bytes(4, "little") + b"PARE", "encrypted"),
    ],
    ids=[
        "truncated",
        "last byte cut",
        "random bytes",
        "empty",
        "magic only",
        "garbage footer",
        "footer longer than file",
        "encrypted",
    ],
)
def test_broken_parquet_is_a_format_error_naming_the_file(
    store: RecordingStore, data: bytes, reason: str
) -> None:
    write_bytes(store.root, UNICODE_KEY, data)
    with pytest.raises(FormatError, match=reason) as error:
        parquet_facts(store, UNICODE_KEY)
    assert f"Parquet file {UNICODE_KEY}" in str(error.value)
    assert "\n" not in str(error.value)


def test_parquet_footer_corrupted_in_place(store: RecordingStore) -> None:
    data = bytearray(_valid_parquet())
    footer = int.from_bytes(data[-8:-4], "little")
    data[-8 - footer : -8] = os.urandom(footer)
    write_bytes(store.root, "raw/x.parquet", bytes(data))
    with pytest.raises(FormatError, match=r"^corrupt Parquet file raw/x\.parquet: "):
        parquet_facts(store, "raw/x.parquet")


def test_missing_parquet_is_a_store_error_not_a_format_error(store: RecordingStore) -> None:
    with pytest.raises(ObjectStoreError, match="cannot read"):
        parquet_facts(store, "raw/nope.parquet")


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=60),
    group=st.integers(1, 20),
)
def test_parquet_maxima_equal_the_data_max(values: list[int | None], group: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(Path(root))
        write_parquet(
            store.root, "p.parquet", pa.table({"v": pa.array(values, pa.int64())}), row_group_size=group
        )
        facts = parquet_facts(store, "p.parquet", ["v"])
    present = [value for value in values if value is not None]
    assert facts.rows == len(values)
    assert facts.maxima == ({"v": max(present)} if present else {})


# CSV ----------------------------------------------------------------------------------------------------

TYPED_CSV = (
    "id,name,amount,day,at,paid\n"
    "1,apple,1.5,2026-11-22,2026-11-22 10:00:00,true\n"
    "2,pear,2.25,2026-11-23,2026-11-23 11:30:00,false\n"
)
TYPED_COLUMNS = (
    Column("id", "int64"),
    Column("name", "string"),
    Column("amount", "double"),
    Column("day", "date32[day]"),
    Column("at", "timestamp[s]"),
    Column("paid", "bool"),
)


def test_csv_columns_from_header_and_inferred_types(store: RecordingStore) -> None:
    write_bytes(store.root, "raw/a.csv", TYPED_CSV.encode())
    assert csv_facts(store, "raw/a.csv") == FileFacts(rows=None, columns=TYPED_COLUMNS)
    assert csv_facts(store, "raw/a.csv", count_rows=True) == FileFacts(rows=2, columns=TYPED_COLUMNS)
    assert store.requests == {"get": 2}  # one per call


def test_csv_quoted_newlines_and_crlf_are_counted_right(store: RecordingStore) -> None:
    text = 'id,note\r\n1,"two\r\nlines"\r\n2,"a ""quoted"" word, and\nmore"\r\n3,plain\r\n'
    write_bytes(store.root, "q.csv", text.encode())
    facts = csv_facts(store, "q.csv", count_rows=True)
    assert facts.rows == 3
    assert facts.columns == (Column("id", "int64"), Column("note", "string"))


@pytest.mark.parametrize("data", [b"", b"\n", b"\r\n\r\n\n"], ids=["empty", "newline", "blank lines"])
def test_csv_without_content_has_no_columns_and_no_rows(store: RecordingStore, data: bytes) -> None:
    write_bytes(store.root, "e.csv", data)
    assert csv_facts(store, "e.csv", count_rows=True) == FileFacts(rows=0, columns=())
    assert csv_facts(store, "e.csv") == FileFacts(rows=0, columns=())


@pytest.mark.parametrize("data", [b"a,b\n", b"a,b"], ids=["with final newline", "without"])
def test_csv_header_only(store: RecordingStore, data: bytes) -> None:
    write_bytes(store.root, "h.csv", data)
    facts = csv_facts(store, "h.csv", count_rows=True)
    assert facts == FileFacts(rows=0, columns=(Column("a", "null"), Column("b", "null")))


def test_csv_last_row_without_newline_and_leading_blank_lines(store: RecordingStore) -> None:
    write_bytes(store.root, "n.csv", b"\n\nx,y\n1,2\n3,4")
    assert csv_facts(store, "n.csv", count_rows=True).rows == 2


def test_csv_unicode_header_and_values(store: RecordingStore) -> None:
    text = '\ufeffprénom,城市,note\nZoë,東京,"ça va\nbien"\nÅsa,Malmö,😀\n'
    write_bytes(store.root, "raw/dt=2026-11-23/données.csv", text.encode())
    facts = csv_facts(store, "raw/dt=2026-11-23/données.csv", count_rows=True)
    assert facts.rows == 2
    assert [column.name for column in facts.columns] == ["prénom", "城市", "note"]


def test_csv_whose_later_rows_change_type_is_counted_untyped(store: RecordingStore) -> None:
    rows = "".join(f"{i},{i * 2}\n" for i in range(200_000)) + "not-a-number,5\n"
    write_bytes(store.root, "t.csv", ("id,v\n" + rows).encode())
    facts = csv_facts(store, "t.csv", count_rows=True)
    assert facts.columns == (Column("id", "int64"), Column("v", "int64"))  # from the first block
    assert facts.rows == 200_001
    assert store.requests == {"get": 2}


def test_csv_with_a_ragged_row_is_a_format_error(store: RecordingStore) -> None:
    write_bytes(store.root, "raw/bad file.csv", b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(FormatError, match=r"^malformed CSV file raw/bad file\.csv: .*Expected 2 columns"):
        csv_facts(store, "raw/bad file.csv", count_rows=True)


def test_csv_columns_only_read_a_bounded_prefix(store: RecordingStore) -> None:
    rows = "".join(f'{i},"text {i}\nwith a break",2026-11-23\n' for i in range(300_000))
    path = write_bytes(store.root, "big.csv", ("id,note,day\n" + rows).encode())
    assert path.stat().st_size > 10 * CSV_BLOCK

    facts = csv_facts(store, "big.csv")

    assert facts.columns == (Column("id", "int64"), Column("note", "string"), Column("day", "date32[day]"))
    assert facts.rows is None
    assert store.bytes_read <= 3 * CSV_BLOCK


@pytest.mark.parametrize("bad_row", ["x,2026-11-23\n", "1,2,3\n"], ids=["retyped", "ragged"])
def test_csv_stopped_early_leaves_no_read_in_flight(tmp_path: Path, bad_row: str) -> None:
    rows = [f"{i},2026-11-23\n" for i in range(400_000)]
    rows[30_000] = bad_row  # in the second block, while Arrow reads dozens of blocks ahead
    write_bytes(tmp_path, "big.csv", ("id,day\n" + "".join(rows)).encode())
    store = RecordingStore(tmp_path, read_delay=0.05)  # a slow network stream
    with contextlib.suppress(FormatError):
        csv_facts(store, "big.csv", count_rows=True)
    time.sleep(1)  # Arrow's read-ahead thread would go on reading here, from the closed stream
    assert store.reads_after_close == 0


def test_csv_rows_of_a_file_many_blocks_long(store: RecordingStore) -> None:
    rows = "".join(f'{i},"text {i}\nwith a break",2026-11-23\n' for i in range(300_000))
    path = write_bytes(store.root, "big.csv", ("id,note,day\n" + rows).encode())
    assert csv_facts(store, "big.csv", count_rows=True).rows == 300_000
    assert store.bytes_read == path.stat().st_size
    assert store.requests == {"get": 1}


def long_field_csv(rows: int, long_rows: dict[int, int]) -> bytes:
    """`id,note` rows; the rows of `long_rows` (row -> length) hold a note of that many bytes."""
    notes = (("x" * long_rows[i]) if i in long_rows else f"note {i}" for i in range(rows))
    return ("id,note\n" + "".join(f"{i},{note}\n" for i, note in enumerate(notes))).encode()


LONG_FIELDS = {  # where a field longer than a block (256 KiB) sits: it must not matter
    "in the first block": {1: 1_200_000},
    "mid-file, once rows were counted": {40_000: 1_200_000},
    "several, one 3 MB": {0: 300_000, 20_000: 3_000_000, 59_999: 2_000_000},
}


@pytest.mark.parametrize("long_rows", LONG_FIELDS.values(), ids=LONG_FIELDS.keys())
def test_csv_fields_longer_than_a_block_are_read(store: RecordingStore, long_rows: dict[int, int]) -> None:
    write_bytes(store.root, "notes.csv", long_field_csv(60_000, long_rows))
    assert csv_facts(store, "notes.csv", count_rows=True) == FileFacts(
        rows=60_000, columns=(Column("id", "int64"), Column("note", "string"))
    )
    assert store.requests["get"] <= 3  # a first read, and one more per 4x larger block
    assert csv_facts(store, "notes.csv").columns == (Column("id", "int64"), Column("note", "string"))


def test_csv_row_longer_than_the_largest_block_is_a_format_error(store: RecordingStore) -> None:
    write_bytes(store.root, "huge.csv", long_field_csv(3, {1: 2 * CSV_MAX_BLOCK + 1}))  # past two boundaries
    message = r"^CSV file huge\.csv: a row is longer than 4 MiB, the most demon reads \(a quote not closed"
    with pytest.raises(FormatError, match=message):
        csv_facts(store, "huge.csv", count_rows=True)


def test_gzip_csv(store: RecordingStore) -> None:
    write_bytes(store.root, "raw/a.csv.gz", gzip.compress(TYPED_CSV.encode()))
    assert csv_facts(store, "raw/a.csv.gz", count_rows=True) == FileFacts(rows=2, columns=TYPED_COLUMNS)


@pytest.mark.parametrize(
    "data",
    [gzip.compress(TYPED_CSV.encode() * 1000)[:-20], b"not gzip at all, but named .gz"],
    ids=["truncated", "not gzip"],
)
def test_broken_gzip_is_a_format_error(store: RecordingStore, data: bytes) -> None:
    write_bytes(store.root, "raw/a.csv.gz", data)
    with pytest.raises(FormatError, match=r"^malformed CSV file raw/a\.csv\.gz: "):
        csv_facts(store, "raw/a.csv.gz", count_rows=True)


def test_store_failing_mid_stream_is_a_store_error(tmp_path: Path) -> None:
    rows = "".join(f"{i},x\n" for i in range(500_000))
    write_bytes(tmp_path, "big.csv", ("a,b\n" + rows).encode())
    write_bytes(tmp_path, "big.jsonl", "".join(f'{{"a": {i}}}\n' for i in range(500_000)).encode())
    store = RecordingStore(tmp_path, fail_after=3_000_000)
    for reader, key in ((csv_facts, "big.csv"), (jsonl_facts, "big.jsonl")):
        with pytest.raises(ObjectStoreError, match="lost mid-read"):
            reader(store, key, count_rows=True)
        store.bytes_read = 0


cells = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t1.-é東😀')), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(cells, cells, cells), max_size=40))
def test_csv_row_count_equals_the_rows_written(rows: list[tuple[str, str, str]]) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["a", "b", "c"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as root:
        write_bytes(Path(root), "r.csv", text.getvalue().encode())
        facts = csv_facts(LocalStore(Path(root)), "r.csv", count_rows=True)
    assert facts.rows == len(rows)
    assert [column.name for column in facts.columns] == ["a", "b", "c"]


# JSON lines ---------------------------------------------------------------------------------------------


def test_jsonl_rows_and_columns(store: RecordingStore) -> None:
    lines = [
        {"id": 1, "name": "a", "at": "2026-11-23T10:00:00", "meta": {"k": [1, 2]}, "score": 1},
        {"id": 2, "name": "b", "at": "2026-11-23T11:00:00", "meta": {"k": []}, "score": 2.5},
    ]
    write_bytes(store.root, "raw/e.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
    facts = jsonl_facts(store, "raw/e.jsonl", count_rows=True)
    assert facts == FileFacts(
        rows=2,
        columns=(
            Column("id", "int64"),
            Column("name", "string"),
            Column("at", "timestamp[s]"),
            Column("meta", "struct<k: list<item: int64>>"),
            Column("score", "double"),
        ),
    )
    assert jsonl_facts(store, "raw/e.jsonl").rows is None
    assert store.requests == {"get": 2}


def test_jsonl_blank_lines_are_not_rows(store: RecordingStore) -> None:
    write_bytes(store.root, "b.jsonl", b'\n{"a": 1}\r\n\n   \n{"a": 2}\n\t\n{"a": 3}')
    facts = jsonl_facts(store, "b.jsonl", count_rows=True)
    assert facts == FileFacts(rows=3, columns=(Column("a", "int64"),))


@pytest.mark.parametrize("data", [b"", b"\n \n\r\n"], ids=["empty", "blank lines"])
def test_jsonl_without_content(store: RecordingStore, data: bytes) -> None:
    write_bytes(store.root, "e.jsonl", data)
    assert jsonl_facts(store, "e.jsonl", count_rows=True) == FileFacts(rows=0, columns=())


@pytest.mark.parametrize("data", [b'{"a": 1}\nnot json\n', b'{"a": 1}\n[1, 2]\n', b'{"a": 1}\n{"a": "x"}\n'])
def test_malformed_jsonl_is_a_format_error(store: RecordingStore, data: bytes) -> None:
    write_bytes(store.root, "raw/ünï.jsonl", data)
    with pytest.raises(FormatError, match=r"^malformed JSON-lines file raw/ünï\.jsonl: "):
        jsonl_facts(store, "raw/ünï.jsonl", count_rows=True)


def test_jsonl_longer_than_the_head_is_counted_to_the_end(store: RecordingStore) -> None:
    body = "".join(
        f'{{"id": {i}, "pad": "{"x" * (i % 50)}"}}\n' + ("\n" if i % 3 == 0 else "") for i in range(150_000)
    )
    path = write_bytes(store.root, "l.jsonl.gz", gzip.compress(body.encode()))
    assert len(body) > 3 * formats.CHUNK
    facts = jsonl_facts(store, "l.jsonl.gz", count_rows=True)
    assert facts == FileFacts(rows=150_000, columns=(Column("id", "int64"), Column("pad", "string")))
    assert store.bytes_read == path.stat().st_size
    assert store.requests == {"get": 1}


def test_jsonl_line_longer_than_the_limit_is_a_format_error(
    store: RecordingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_LINE", 3 * formats.CHUNK)
    write_bytes(store.root, "one.jsonl", b"[" + b"1," * (4 * formats.CHUNK) + b"1]")
    with pytest.raises(FormatError, match="a line is longer than"):
        jsonl_facts(store, "one.jsonl")
    assert store.bytes_read < 5 * formats.CHUNK


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"", b" ", b"\t\r", b"{}", b'{"a":1}', b" x "]), max_size=30),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    final_newline=st.booleans(),
)
def test_nonblank_line_count_does_not_depend_on_chunk_boundaries(
    lines: list[bytes], cuts: list[int], final_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    chunks = [data[start:end] for start, end in itertools.pairwise(bounds)]
    expected = sum(1 for line in data.split(b"\n") if line.strip())
    assert formats._nonblank_lines(chunks) == expected


# Dispatch -----------------------------------------------------------------------------------------------


def test_formats_dispatch_with_one_call_shape(store: RecordingStore) -> None:
    write_parquet(store.root, "d/x.parquet", pa.table({"at": [1, 5]}))
    write_bytes(store.root, "d/x.csv", b"at\n1\n5\n")
    write_bytes(store.root, "d/x.jsonl", b'{"at": 1}\n{"at": 5}\n')
    found = {
        name: FORMATS[name](store, f"d/x.{name}", count_rows=True, want_maxima=["at"])
        for name in ("parquet", "csv", "jsonl")
    }
    assert {name: facts.rows for name, facts in found.items()} == {"parquet": 2, "csv": 2, "jsonl": 2}
    assert {name: facts.columns for name, facts in found.items()} == dict.fromkeys(
        ("parquet", "csv", "jsonl"), (Column("at", "int64"),)
    )
    assert found["parquet"].maxima == {"at": 5}
    assert found["csv"].maxima == found["jsonl"].maxima == {}
    assert set(FORMATS) == {"parquet", "csv", "jsonl"}
