"""Bounded, column-projected samples of lake files, for the quality rules that run in Pandera.

Reads stop once `limit` rows are in hand. Parquet is read through ranged requests: the footer, then the
wanted columns' chunks only, so projection saves bytes on S3 too. CSV and JSON lines stream, so a
sample never holds more than a few blocks beyond `limit` rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any, Final

from checks.sources.formats import FormatError, csv_reader, decompressed, malformed
from checks.sources.objects import ObjectInfo, RangedFile
from monitor.core.humanize import first_line
from monitor.core.typefamilies import family_of

if TYPE_CHECKING:
    from checks.sources.objects import ObjectStore

BATCH_ROWS: Final = 65536
WHOLE_FILE: Final = 1 << 20  # Parquet files up to this size are read in one request
RANGE_READ: Final = 1 << 16  # bytes a ranged request asks at least, so a footer's small reads coalesce


def _parquet_batches(
    store: ObjectStore, info: ObjectInfo, columns: Sequence[str]
) -> Generator[Any, None, None]:
    import pyarrow.parquet as pq

    ranged = RangedFile(store, info.key, info.size)
    small = info.size <= WHOLE_FILE  # one request for the whole file beats three ranged ones
    buffered = io.BytesIO(ranged.read()) if small else io.BufferedReader(ranged, buffer_size=RANGE_READ)
    with buffered as source:
        parquet = pq.ParquetFile(source)
        present = [name for name in columns if name in parquet.schema_arrow.names]
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=present)


def _csv_batches(store: ObjectStore, info: ObjectInfo, columns: Sequence[str]) -> Generator[Any, None, None]:
    with csv_reader(store, info.key, capped=False) as reader:
        if reader is None:
            return
        yield from (_projected(batch, columns) for batch in reader)


def _jsonl_batches(
    store: ObjectStore, info: ObjectInfo, columns: Sequence[str]
) -> Generator[Any, None, None]:
    import pyarrow.json as pj

    with store.open(info.key) as raw:
        reader = pj.open_json(decompressed(raw, info.key))
        yield from (_projected(batch, columns) for batch in reader)


def _projected(batch: Any, columns: Sequence[str]) -> Any:
    return batch.select([name for name in columns if name in batch.schema.names])


Sampler = Callable[["ObjectStore", ObjectInfo, Sequence[str]], Generator[Any, None, None]]
SAMPLERS: Final[dict[str, Sampler]] = {
    "parquet": _parquet_batches,
    "csv": _csv_batches,
    "jsonl": _jsonl_batches,
}


_KINDS: Final = {"parquet": "Parquet", "csv": "CSV", "jsonl": "JSON-lines"}


def read_sample(
    store: ObjectStore,
    files: Sequence[ObjectInfo],
    file_format: str,
    columns: Mapping[str, str],
    limit: int,
) -> Any:
    """Up to `limit` rows of `columns` (name -> the dataset's type family) from the files in order, as
    one pandas frame. A file whose column has another family than the dataset's is a FormatError
    naming both: mixed in one frame, its values would break the checks of every other file."""
    import pandas as pd

    frames, rows = [], 0
    for info in files:
        key = info.key
        batches = SAMPLERS[file_format](store, info, list(columns))
        with _unreadable(key, file_format), closing(batches):
            for batch in batches:
                _same_families(batch, columns, key)
                frames.append(batch.slice(0, limit - rows).to_pandas())
                rows += len(frames[-1])
                if rows >= limit:
                    break
        if rows >= limit:
            break
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


_NUMBERS = frozenset({"integer", "float", "decimal"})  # mix in one frame as numbers


def _same_families(batch: Any, columns: Mapping[str, str], key: str) -> None:
    for field in batch.schema:
        family, expected = family_of(str(field.type)), columns.get(field.name)
        if expected is None or family == expected or "other" in (family, expected):
            continue
        if not {family, expected} <= _NUMBERS:
            raise FormatError(
                f"file {key}: column {field.name} is {family}, the dataset's is {expected}"
                " (see the schema check's files with another schema)"
            )


@contextmanager
def _unreadable(key: str, file_format: str) -> Iterator[None]:
    """Any read failure of a file as a FormatError naming it; a value that does not fit its column's
    type (inferred from a CSV's first block) is said to be that, not a malformed file."""
    import pyarrow as pa

    kind = _KINDS[file_format]
    try:
        with malformed(key, kind):
            try:
                yield
            except pa.ArrowInvalid as error:
                if "conversion error" not in str(error):
                    raise
                reason = f"does not fit its column's type: {first_line(error)}"
                raise FormatError(f"a value of {kind} file {key} {reason}") from None
    except (pa.ArrowException, OSError) as error:
        raise FormatError(f"corrupt {kind} file {key}: {first_line(error)}") from None
