"""Bounded, column-projected samples of lake files, for the quality rules that run in Pandera.

Reads stop once `limit` rows are in hand. Parquet reads only the wanted columns' chunks when the file
is seekable (local files); an S3 object is read whole first, as a GET body cannot seek. CSV and JSON
lines stream, so a sample never holds more than a few blocks beyond `limit` rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, Final

from checks.sources.formats import csv_reader, decompressed, malformed

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


def read_sample(
    store: ObjectStore, keys: Sequence[str], file_format: str, columns: Sequence[str], limit: int
) -> Any:
    """Up to `limit` rows of `columns` from the files in order, as one pandas frame."""
    import pandas as pd

    frames, rows = [], 0
    for key in keys:
        with malformed(key, file_format), closing(SAMPLERS[file_format](store, key, columns)) as batches:
            for batch in batches:
                frames.append(batch.slice(0, limit - rows).to_pandas())
                rows += len(frames[-1])
                if rows >= limit:
                    break
        if rows >= limit:
            break
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
