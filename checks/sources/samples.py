"""Bounded, column-projected samples of lake files, for the quality rules that run in Pandera.

Reads stop once `limit` rows are in hand. Parquet reads only the wanted columns' chunks when the file
is seekable (local files); an S3 object is read whole first, as a GET body cannot seek. CSV and JSON
lines stream, so a sample never holds more than a few blocks beyond `limit` rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any, Final

from checks.quality.loader import first_line
from checks.sources.formats import FormatError, csv_reader, decompressed, malformed
from checks.typefamilies import family_of

if TYPE_CHECKING:
    from checks.sources.objects import ObjectStore

BATCH_ROWS: Final = 65536


def _parquet_batches(store: ObjectStore, key: str, columns: Sequence[str]) -> Generator[Any, None, None]:
    import pyarrow.parquet as pq

    with store.open(key) as raw:
        source: Any = raw if raw.seekable() else io.BytesIO(raw.read())
        parquet = pq.ParquetFile(source)
        present = [name for name in columns if name in parquet.schema_arrow.names]
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=present)


def _csv_batches(store: ObjectStore, key: str, columns: Sequence[str]) -> Generator[Any, None, None]:
    with store.open(key) as raw, csv_reader(raw, key, capped=False) as reader:
        if reader is None:
            return
        yield from (_projected(batch, columns) for batch in reader)


def _jsonl_batches(store: ObjectStore, key: str, columns: Sequence[str]) -> Generator[Any, None, None]:
    import pyarrow.json as pj

    with store.open(key) as raw:
        reader = pj.open_json(decompressed(raw, key))
        yield from (_projected(batch, columns) for batch in reader)


def _projected(batch: Any, columns: Sequence[str]) -> Any:
    return batch.select([name for name in columns if name in batch.schema.names])


SAMPLERS: Final[dict[str, Callable[[ObjectStore, str, Sequence[str]], Generator[Any, None, None]]]] = {
    "parquet": _parquet_batches,
    "csv": _csv_batches,
    "jsonl": _jsonl_batches,
}


_KINDS: Final = {"parquet": "Parquet", "csv": "CSV", "jsonl": "JSON-lines"}


def read_sample(
    store: ObjectStore,
    keys: Sequence[str],
    file_format: str,
    columns: Mapping[str, str],
    limit: int,
) -> Any:
    """Up to `limit` rows of `columns` (name -> the dataset's type family) from the files in order, as
    one pandas frame. A file whose column has another family than the dataset's is a FormatError
    naming both: mixed in one frame, its values would break the checks of every other file."""
    import pandas as pd

    frames, rows = [], 0
    for key in keys:
        batches = SAMPLERS[file_format](store, key, list(columns))
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
