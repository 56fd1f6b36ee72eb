"""What checks need from one data-lake file (rows, columns, column maxima), read at the least cost.

Parquet answers from its footer alone: one ranged read of the file's tail (two when the footer is
longer than that read), never the data pages. CSV and JSON-lines have no footer: their columns come
from the first block and their rows from one streaming pass whose memory does not grow with the file.
A `.gz` suffix means a gzip stream. pyarrow is imported inside the functions: it is heavy, and only
the lake source needs it.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
import zlib
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol

from checks.probes import Column
from monitor.core.failures import Reason
from monitor.core.humanize import first_line

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from checks.sources.objects import ObjectStore

TAIL_BYTES: Final = 65536  # one ranged read; footers of files with up to a few hundred columns fit
CSV_BLOCK: Final = 1 << 18  # Arrow infers CSV types from the first block and reads up to 32 blocks ahead
CSV_MAX_BLOCK: Final = 1 << 22  # a row must fit a block: blocks grow 4x up to this (32 ahead: 128 MiB)
JSON_HEAD: Final = 1 << 20  # the first lines of a JSON-lines file that its columns are inferred from
CHUNK: Final = 1 << 20  # read size when counting JSON lines
MAX_LINE: Final = 1 << 26  # a longer JSON line is not JSON lines (a whole document, say)
_STRADDLING: Final = "straddling object"  # Arrow's words for a CSV row longer than its block
_MAGIC: Final = b"PAR1"


class FormatError(Exception):
    """A file cannot be read as its format; the message names the file."""

    reason = Reason.DATA


@dataclass(frozen=True)
class FileFacts:
    """What one file tells without reading its data: row count, columns, maxima of asked columns."""

    rows: int | None  # None when not asked for and not known for free
    columns: tuple[Column, ...] = ()  # type_name is the Arrow type, e.g. "timestamp[us, tz=UTC]"
    maxima: dict[str, Any] = field(default_factory=dict)  # column -> max from Parquet statistics


class FactsReader(Protocol):
    """The common call of every format's reader, so the lake source dispatches by format name."""

    def __call__(
        self,
        store: ObjectStore,
        key: str,
        *,
        count_rows: bool = ...,
        want_maxima: Collection[str] = ...,
        want_columns: bool = ...,
    ) -> FileFacts: ...


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


# Parquet ------------------------------------------------------------------------------------------------


def parquet_facts(
    store: ObjectStore,
    key: str,
    want_maxima: Collection[str] = (),
    *,
    count_rows: bool = True,
    want_columns: bool = True,
) -> FileFacts:
    """Rows, columns and the maxima of `want_maxima` from the footer; rows are always known (`count_rows`
    is accepted for the common reader call). Columns without min/max statistics have no maximum."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    footer = _footer(store, key)
    try:  # read_metadata reads only the end of what it is given: the footer, behind a leading magic
        metadata = pq.read_metadata(pa.BufferReader(_MAGIC + footer))
        schema = metadata.schema.to_arrow_schema()
        maxima = _maxima(metadata, want_maxima)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(f"corrupt Parquet file {key}: {first_line(exc)}") from None
    return FileFacts(rows=metadata.num_rows, columns=_columns(schema), maxima=maxima)


def _footer(store: ObjectStore, key: str) -> bytes:
    """The footer with its length and magic, from one tail read, or two when it is longer than the first."""
    data, size = store.tail(key, TAIL_BYTES)
    length = _footer_length(data, size, key)
    if length + 8 > len(data):
        trailer = data[-8:]
        data, size = store.tail(key, length + 8)
        if len(data) != length + 8 or data[-8:] != trailer:
            raise FormatError(f"Parquet file {key} changed while its footer was read")
    return data[-(length + 8) :]


def _footer_length(data: bytes, size: int, key: str) -> int:
    """The footer's length from the last 8 bytes (little-endian length, then the magic), checked."""
    if size < 12:
        raise FormatError(f"corrupt Parquet file {key}: {size} bytes is too small for Parquet")
    if data[-4:] == b"PARE":
        raise FormatError(f"corrupt Parquet file {key}: encrypted footers are not supported")
    if data[-4:] != _MAGIC:
        raise FormatError(f"corrupt Parquet file {key}: does not end with PAR1 (truncated or not Parquet)")
    length = int.from_bytes(data[-8:-4], "little")
    if length + 12 > size:
        raise FormatError(f"corrupt Parquet file {key}: footer of {length} bytes in a {size}-byte file")
    return length


def _maxima(metadata: Any, wanted: Collection[str]) -> dict[str, Any]:
    """Max over row groups of each wanted column's statistics (leaf columns by dotted path)."""
    positions = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    maxima: dict[str, Any] = {}
    for name in wanted:
        if name not in positions:
            continue
        arrow_type = metadata.schema.column(positions[name]).logical_type
        values = [
            _stat_max(stats, arrow_type)
            for group in range(metadata.num_row_groups)
            if (stats := metadata.row_group(group).column(positions[name]).statistics) is not None
            and stats.has_min_max
        ]
        if values:
            maxima[name] = _utc(max(values))
    return maxima


_PER_SECOND = {"milliseconds": 10**3, "microseconds": 10**6, "nanoseconds": 10**9}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stat_max(stats: Any, logical_type: Any) -> Any:
    """The statistic's max as Python. Arrow converts nanosecond timestamps only through pandas: those
    come from the raw integer, to the microsecond."""
    try:
        return stats.max
    except ValueError:
        described = json.loads(logical_type.to_json())
        if described.get("Type") != "Timestamp":
            raise
        moment = _EPOCH + timedelta(microseconds=stats.max_raw * 10**6 // _PER_SECOND[described["timeUnit"]])
        return moment if described["isAdjustedToUTC"] else moment.replace(tzinfo=None)


def _utc(value: Any) -> Any:
    """Aware datetimes (Parquet's UTC-adjusted timestamps) in `datetime.UTC`; naive ones stay naive."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _columns(schema: Any) -> tuple[Column, ...]:
    return tuple(Column(name=item.name, type_name=str(item.type)) for item in schema)


# CSV ----------------------------------------------------------------------------------------------------


def csv_facts(
    store: ObjectStore,
    key: str,
    count_rows: bool = False,
    *,
    want_maxima: Collection[str] = (),
    want_columns: bool = True,
) -> FileFacts:
    """Columns from the header and the first block's types; rows by streaming the file when asked.

    CSV has no statistics, so `maxima` is always empty. Counting costs one more request only when a
    later row does not fit the types inferred from the first block (the count is redone untyped).
    """
    import pyarrow as pa

    with malformed(key, "CSV"):
        with csv_reader(store, key, capped=not count_rows) as reader:
            if reader is None:
                return FileFacts(rows=0)
            columns = _columns(reader.schema)
            rows = _typed_rows(reader) if count_rows else None
        if count_rows and rows is None:
            untyped = {column.name: pa.binary() for column in columns}
            with csv_reader(store, key, capped=False, types=untyped) as reader:
                rows = _batch_rows(reader) if reader is not None else 0
    return FileFacts(rows=rows, columns=columns)


@contextmanager
def csv_reader(
    store: ObjectStore, key: str, *, capped: bool, types: dict[str, Any] | None = None
) -> Iterator[CsvReader | None]:
    """The batches of `key`, or None when the file has no content at all; `capped` when only its columns are
    wanted. On exit no read of Arrow's is in flight or to come, and the file is closed."""
    reader = CsvReader(store, key, capped, types)
    try:
        yield reader if reader.open() else None
    finally:
        reader.close()


class CsvReader:
    """One CSV file through Arrow's streaming reader, whose rows must each fit in a block.

    A longer row (a field of megabytes) fails Arrow's read as a "straddling object": the file is then read
    again with blocks 4 times larger, up to CSV_MAX_BLOCK, the rows already given skipped and the column
    types already given kept. Arrow reads up to 32 blocks ahead, so memory stays within 32 of the largest.
    """

    def __init__(self, store: ObjectStore, key: str, capped: bool, types: dict[str, Any] | None) -> None:
        self._store, self._key, self._capped, self._types = store, key, capped, types or {}
        self._block = CSV_BLOCK
        self._raw: BinaryIO | None = None
        self._input: _ArrowInput | None = None
        self._arrow: Any = None

    @property
    def schema(self) -> Any:
        return self._arrow.schema

    def open(self) -> bool:
        """Start reading, with blocks large enough for the first rows; False when there is no content."""
        import pyarrow as pa

        while True:
            try:
                return self._start()
            except pa.ArrowInvalid as exc:
                if not self._grown(exc):
                    raise

    def __iter__(self) -> Iterator[Any]:
        import pyarrow as pa

        given = 0
        while True:
            try:
                for batch in self._batches(skip=given):
                    given += batch.num_rows
                    yield batch
                return
            except pa.ArrowInvalid as exc:
                if not self._grown(exc):
                    raise
                self._types = {field.name: field.type for field in self.schema}  # those of the rows given
                self._start()

    def close(self) -> None:
        """Waits for a read of Arrow's in flight and ends its input, then closes the file."""
        if self._input is not None:
            self._input.release()
        if self._raw is not None:
            self._raw.close()

    def _start(self) -> bool:
        import pyarrow.csv as pc

        self.close()
        self._raw = self._store.open(self._key)
        stream = decompressed(self._raw, self._key)
        head = _first_content(stream)
        if not head:
            return False
        self._input = _ArrowInput(head, stream, limit=2 * self._block if self._capped else None)
        self._arrow = pc.open_csv(
            self._input,
            read_options=pc.ReadOptions(block_size=self._block),
            parse_options=pc.ParseOptions(newlines_in_values=True),
            convert_options=pc.ConvertOptions(column_types=self._types),
        )
        return True

    def _batches(self, skip: int) -> Iterator[Any]:
        for batch in self._arrow:
            if skip < batch.num_rows:
                yield batch.slice(skip)
            skip = max(0, skip - batch.num_rows)

    def _grown(self, error: Exception) -> bool:
        """Whether `error` is a row longer than a block, made 4 times larger (up to CSV_MAX_BLOCK)."""
        if _STRADDLING not in str(error):
            return False
        if self._block >= CSV_MAX_BLOCK:
            longest = f"{CSV_MAX_BLOCK >> 20} MiB, the most demon reads"
            raise FormatError(f"CSV file {self._key}: a row is longer than {longest} (a quote not closed?)")
        self._block *= 4
        return True


def _typed_rows(reader: Any) -> int | None:
    """Rows of every batch, or None when a value does not convert to its column's inferred type."""
    import pyarrow as pa

    try:
        return _batch_rows(reader)
    except pa.ArrowInvalid as exc:
        if "CSV conversion error" in str(exc):
            return None
        raise


def _batch_rows(reader: Any) -> int:
    return sum(int(batch.num_rows) for batch in reader)


def _first_content(stream: _Readable) -> bytes:
    """The stream's first bytes after any leading line breaks; empty when there is nothing else."""
    while chunk := stream.read(CSV_BLOCK):
        if head := chunk.lstrip(b"\r\n"):
            return head
    return b""


class _ArrowInput(io.RawIOBase):
    """`head` then the rest of `stream`, as Arrow reads it: full reads ending in a line break, and capped.

    Arrow rejects a header-only file unless its first read holds the header's line break, so reads are
    filled and the last one gets a line break if it lacks one. The cap bounds what a columns-only read
    downloads: Arrow fetches up to 32 blocks ahead of the one it infers types from (in a thread that
    goes on after its reader is closed), and the first block's rows are complete once the second
    block is there.
    """

    def __init__(self, head: bytes, stream: _Readable, limit: int | None) -> None:
        super().__init__()
        self._head = head
        self._stream = stream
        self._left = limit
        self._lock = threading.Lock()
        self._ended = False
        self._unterminated = False  # the last byte given out was not a line break

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        with self._lock:
            size = len(view) if self._left is None else min(len(view), self._left)
            data = self._fill(size) if size > 0 else b""
            if self._left is not None:
                self._left -= len(data)
        view[: len(data)] = data
        return len(data)

    def release(self) -> None:
        """Waits for a read in flight and ends the input: Arrow's read-ahead thread sees its end."""
        with self._lock:
            self._left = 0

    def _fill(self, size: int) -> bytes:
        data = bytearray(self._head[:size])
        self._head = self._head[size:]
        while len(data) < size and (more := self._stream.read(size - len(data))):
            data += more
        if data:
            self._unterminated = not data.endswith(b"\n")
        if len(data) < size and not self._ended:
            self._ended = True
            if self._unterminated:
                data += b"\n"
        return bytes(data)


# JSON lines ---------------------------------------------------------------------------------------------


def jsonl_facts(
    store: ObjectStore,
    key: str,
    count_rows: bool = False,
    *,
    want_maxima: Collection[str] = (),
    want_columns: bool = True,
) -> FileFacts:
    """Columns inferred from the first lines (about 1 MiB); rows are the non-blank lines, streamed.

    Lines after the first ones are counted, not parsed. JSON lines have no statistics, so `maxima`
    is always empty.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    with malformed(key, "JSON-lines"), store.open(key) as raw:
        stream = decompressed(raw, key)
        head, rest = _head_lines(stream, key)
        columns: tuple[Column, ...] = ()
        if want_columns and head.strip():  # inference fails on valid lines whose types vary: only when asked
            options = pj.ReadOptions(block_size=len(head) + 1)
            columns = _columns(pj.read_json(pa.BufferReader(head), read_options=options).schema)
        rows = _nonblank_lines(_chunks((head, rest), stream)) if count_rows else None
    return FileFacts(rows=rows, columns=columns)


def _head_lines(stream: _Readable, key: str) -> tuple[bytes, bytes]:
    """Whole lines making at least JSON_HEAD bytes (or the whole stream), and the bytes read after them."""
    buffer = bytearray()
    end = 0  # just past the buffer's last line break
    while chunk := stream.read(CHUNK):
        buffer += chunk
        if (cut := chunk.rfind(b"\n")) >= 0:
            end = len(buffer) - len(chunk) + cut + 1
        if end >= JSON_HEAD:
            return bytes(buffer[:end]), bytes(buffer[end:])
        if len(buffer) - end > MAX_LINE:
            raise FormatError(f"malformed JSON-lines file {key}: a line is longer than {MAX_LINE} bytes")
    return bytes(buffer), b""


def _chunks(read: Iterable[bytes], stream: _Readable) -> Iterator[bytes]:
    yield from read
    while chunk := stream.read(CHUNK):
        yield chunk


def _nonblank_lines(chunks: Iterable[bytes]) -> int:
    """Lines with anything but whitespace, without holding more than one chunk."""
    count, pending = 0, False  # pending: the line still open at the chunk's end has content
    for chunk in chunks:
        *complete, last = chunk.split(b"\n")
        for line in complete:
            count += pending or bool(line.strip())
            pending = False
        pending = pending or bool(last.strip())
    return count + pending


# Shared -------------------------------------------------------------------------------------------------


def decompressed(raw: BinaryIO, key: str) -> _Readable:
    if key.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


@contextmanager
def malformed(key: str, kind: str) -> Iterator[None]:
    """Turns Arrow's parse errors and broken gzip streams into a FormatError naming the file."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FormatError(f"malformed {kind} file {key}: {first_line(exc)}") from None


FORMATS: Final[dict[str, FactsReader]] = {
    "parquet": parquet_facts,
    "csv": csv_facts,
    "jsonl": jsonl_facts,
}
