"""S3Store against a real moto server over HTTP: pagination, partitions, ranged reads, errors, parity."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from checks.sources.localstore import LocalStore
from checks.sources.objects import Listing, ObjectStore, ObjectStoreError
from checks.sources.s3store import S3Store
from tests.motoserver import DUMMY_ENV, LIST_AND_READ, LIST_ONLY, S3Lake
from tests.pgserver import free_port

SECRET = DUMMY_ENV["AWS_SECRET_ACCESS_KEY"]
PARTITIONS = {"dt=2026-11-01": 600, "dt=2026-11-02": 600, "dt=2026-11-04": 5}  # 11-03 is missing
# A tree of files as a lake holds them: hive partitions, a marker, names with spaces and unicode.
TREE = {
    "orders/dt=2026-11-01/part-0.csv": b"id,amount\n1,10\n2,20\n",
    "orders/dt=2026-11-01/part-1.csv": b"id,amount\n3,30\n",
    "orders/dt=2026-11-02/part-0.csv": b"id,amount\n4,40\n5,50\n6,60\n",
    "orders/_SUCCESS": b"",
    "customers/all customers.csv": b"id,name\n1,Zo\xc3\xa9\n",
    "notes/caf\u00e9/\u65e5\u672c \u30c7\u30fc\u30bf.txt": b"x" * 5000,
    "top.txt": b"0123456789",
}


def keys(listing: Listing) -> list[str]:
    return [info.key for info in listing.objects]


def store(s3: S3Lake, bucket: str = "lake", prefix: str = "") -> S3Store:
    return S3Store(bucket, prefix, endpoint_url=s3.endpoint_url)


def error_of(call: object, *arguments: object) -> str:
    """The message of the ObjectStoreError a call raises; it must be one line and free of the secret."""
    assert callable(call)
    with pytest.raises(ObjectStoreError) as caught:
        call(*arguments)
    message = str(caught.value)
    assert "\n" not in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    return message


def test_listing_follows_every_page_at_one_call_per_thousand(s3: S3Lake) -> None:
    names = [f"events/part-{index:05d}.json" for index in range(2500)]
    s3.bucket("lake", {"eventsx/other.json": b"{}"})
    s3.seed("lake", dict.fromkeys(reversed(names), b"{}\n"))
    lake = store(s3)
    listing = lake.listing("events/")
    assert keys(listing) == names
    assert listing.prefixes == []
    assert lake.requests == {"list": 3}
    assert {info.size for info in listing.objects} == {3}
    exactly_one_page = store(s3)
    assert len(keys(exactly_one_page.listing("events/part-01"))) == 1000
    assert exactly_one_page.requests == {"list": 1}


def test_an_empty_prefix_costs_one_call_and_lists_nothing(s3: S3Lake) -> None:
    s3.bucket("lake", {"other/a.csv": b"a"})
    lake = store(s3, prefix="raw")
    assert lake.listing("") == Listing()
    assert lake.listing("orders/", delimiter="/") == Listing()
    assert lake.requests == {"list": 2}


def test_modified_times_are_aware_utc(s3: S3Lake) -> None:
    s3.bucket("lake", {"a.csv": b"a"})
    [info] = store(s3).listing("").objects
    assert info.modified.tzinfo is UTC
    assert abs(datetime.now(UTC) - info.modified) < timedelta(hours=1)


def test_delimiter_lists_partitions_without_listing_their_files(s3: S3Lake) -> None:
    objects = {f"orders/{dt}/part-{index}.parquet": b"PAR1" for dt, count in PARTITIONS.items()
               for index in range(count)}
    s3.bucket("lake", {"orders/_SUCCESS": b"", "ordersbis/dt=2026-01-01/x.parquet": b"PAR1"})
    s3.seed("lake", objects)
    lake = store(s3)
    top = lake.listing("orders/", delimiter="/")
    assert top.prefixes == [f"orders/{dt}/" for dt in PARTITIONS]
    assert keys(top) == ["orders/_SUCCESS"]
    assert lake.requests == {"list": 1}
    assert lake.listing("orders/dt=2026-11-0", delimiter="/").prefixes == top.prefixes
    latest = lake.listing("orders/dt=2026-11-04/", delimiter="/")
    assert keys(latest) == [f"orders/dt=2026-11-04/part-{index}.parquet" for index in range(5)]
    assert latest.prefixes == []
    assert len(keys(lake.listing("orders/"))) == 1206
    assert lake.requests == {"list": 5}


def test_keys_are_relative_to_the_store_prefix(s3: S3Lake) -> None:
    s3.bucket("lake", {"raw/orders/a.csv": b"a", "raw/orders/dt=1/b.csv": b"bb", "rawx/c.csv": b"c"})
    for prefix in ("raw", "raw/", "/raw/"):
        lake = store(s3, prefix=prefix)
        assert lake.describe() == "s3://lake/raw/"
        assert keys(lake.listing("")) == ["orders/a.csv", "orders/dt=1/b.csv"]
        assert lake.listing("orders/", delimiter="/").prefixes == ["orders/dt=1/"]
        assert lake.tail("orders/dt=1/b.csv", 10) == (b"bb", 2)
    assert S3Store("lake").describe() == "s3://lake/"


def test_folder_markers_are_not_objects(s3: S3Lake) -> None:
    s3.bucket("lake", {"orders/": b"", "orders/dt=1/": b"", "orders/dt=1/a.csv": b"a"})
    lake = store(s3)
    assert keys(lake.listing("")) == ["orders/dt=1/a.csv"]
    assert lake.listing("orders/", delimiter="/") == Listing(prefixes=["orders/dt=1/"])


def test_tail_is_one_ranged_get_with_the_true_size(s3: S3Lake) -> None:
    body = bytes(range(256)) * 40
    s3.bucket("lake", {"data/file.parquet": body, "data/small.parquet": b"tiny", "data/empty": b""})
    lake = store(s3)
    assert lake.tail("data/file.parquet", 8) == (body[-8:], len(body))
    assert lake.tail("data/file.parquet", len(body)) == (body, len(body))
    assert lake.tail("data/small.parquet", 65536) == (b"tiny", 4)
    assert lake.tail("data/empty", 65536) == (b"", 0)
    assert lake.requests == {"get": 4}
    with pytest.raises(ValueError, match="at least 1"):
        lake.tail("data/file.parquet", 0)


def test_tail_asks_for_a_range_and_the_wire_carries_only_it(s3: S3Lake) -> None:
    """What travels, not only what is returned: a store that fetched whole objects and sliced them
    would pass the test above."""
    body = os.urandom(2 * 1024 * 1024)
    s3.bucket("lake", {"big.parquet": body})
    lake = store(s3)
    sent: list[str] = []
    received: list[int] = []
    lake._client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: sent.append(params["headers"].get("Range", ""))
    )
    lake._client.meta.events.register(
        "after-call.s3.GetObject", lambda parsed, **_: received.append(int(parsed["ContentLength"]))
    )
    assert lake.tail("big.parquet", 65536) == (body[-65536:], len(body))
    assert sent == ["bytes=-65536"]
    assert received == [65536]


def test_an_endpoint_without_a_scheme_is_a_store_error(s3: S3Lake) -> None:
    with pytest.raises(ObjectStoreError, match="cannot set up the S3 client: Invalid endpoint"):
        S3Store("lake", endpoint_url="127.0.0.1:9")


def test_open_streams_the_whole_object_in_one_get(s3: S3Lake) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.bucket("lake", {"big.bin": body})
    lake = store(s3)
    with lake.open("big.bin") as handle:
        chunks = iter(lambda: handle.read(100_000), b"")
        assert b"".join(chunks) == body
    assert handle.closed
    assert lake.requests == {"get": 1}


def test_open_feeds_pyarrow_csv_with_quoted_newlines(s3: S3Lake) -> None:
    rows = "".join(f'{index},"line one\nline two {index}"\n' for index in range(20_000))
    s3.bucket("lake", {"exports/notes.csv": f"id,note\n{rows}".encode()})
    with store(s3).open("exports/notes.csv") as handle:
        table = pacsv.open_csv(pa.PythonFile(handle, mode="r")).read_all()
    assert table.num_rows == 20_000
    assert table.column("note")[19_999].as_py() == "line one\nline two 19999"


def test_keys_with_spaces_and_unicode_round_trip(s3: S3Lake) -> None:
    odd = {"reports/q1 summary.csv": b"spaces",
           "reports/\u00e9t\u00e9/\u65e5\u672c \u30c7\u30fc\u30bf.csv": b"unicode",
           "reports/a+b%20c?d#e.csv": b"escapes"}
    s3.bucket("lake", odd)
    lake = store(s3, prefix="reports")
    assert keys(lake.listing("")) == sorted(key.removeprefix("reports/") for key in odd)
    assert lake.listing("", delimiter="/").prefixes == ["\u00e9t\u00e9/"]
    for key, body in odd.items():
        relative = key.removeprefix("reports/")
        assert lake.tail(relative, 3) == (body[-3:], len(body))
        with lake.open(relative) as handle:
            assert handle.read() == body


def test_a_missing_bucket_is_named(s3: S3Lake) -> None:
    lake = store(s3, bucket="no-such-bucket", prefix="raw")
    assert error_of(lake.listing, "") == (
        "s3://no-such-bucket/raw/: bucket no-such-bucket does not exist (NoSuchBucket)")
    assert "(NoSuchBucket)" in error_of(lake.tail, "a.parquet", 8)
    assert lake.requests == {"list": 1, "get": 1}


def test_a_missing_object_is_named(s3: S3Lake) -> None:
    s3.bucket("lake")
    lake = store(s3, prefix="raw")
    assert error_of(lake.tail, "gone.parquet", 8) == (
        "s3://lake/raw/gone.parquet: object does not exist (NoSuchKey)")
    assert error_of(lake.open, "d\u00e9j\u00e0 vu.csv") == (
        "s3://lake/raw/d\u00e9j\u00e0 vu.csv: object does not exist (NoSuchKey)")


@pytest.fixture
def secured(s3: S3Lake) -> Iterator[S3Lake]:
    """A bucket on a server that checks signatures and IAM policies from now on."""
    s3.bucket("lake", {"raw/a.csv": b"id\n1\n"})
    yield s3


def use_credentials(monkeypatch: pytest.MonkeyPatch, access_key: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


def test_wrong_credentials_are_rejected_without_showing_them(
        secured: S3Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    reader, reader_secret = secured.user("reader", LIST_AND_READ)
    secured.moto.require_auth()
    lake = store(secured, prefix="raw")  # environment credentials: a key moto's IAM does not know
    assert error_of(lake.listing, "") == (
        "s3://lake/raw/: the AWS credentials were rejected (InvalidAccessKeyId)")
    use_credentials(monkeypatch, reader, SECRET)  # a real key with someone else's secret
    message = error_of(store(secured, prefix="raw").listing, "")
    assert message == "s3://lake/raw/: the AWS credentials were rejected (SignatureDoesNotMatch)"
    assert reader_secret not in message
    use_credentials(monkeypatch, reader, reader_secret)
    allowed = store(secured, prefix="raw")
    assert keys(allowed.listing("")) == ["a.csv"]
    assert allowed.tail("a.csv", 2) == (b"1\n", 5)


def test_access_denied_is_named(secured: S3Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    lister, lister_secret = secured.user("lister", LIST_ONLY)
    nobody, nobody_secret = secured.user("nobody")
    secured.moto.require_auth()
    use_credentials(monkeypatch, nobody, nobody_secret)
    assert error_of(store(secured).listing, "raw/") == "s3://lake/: access denied (AccessDenied)"
    use_credentials(monkeypatch, lister, lister_secret)
    lake = store(secured)
    assert keys(lake.listing("raw/")) == ["raw/a.csv"]
    assert error_of(lake.tail, "raw/a.csv", 4) == "s3://lake/raw/a.csv: access denied (AccessDenied)"
    assert error_of(lake.open, "raw/a.csv").endswith("(AccessDenied)")


def test_missing_credentials_say_how_to_set_them(s3: S3Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    message = error_of(store(s3).listing, "")
    assert message.startswith("s3://lake/: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET")


def test_an_endpoint_that_is_down_fails_fast_and_clearly(s3: S3Lake) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    lake = S3Store("lake", "raw", endpoint_url=endpoint)
    started = time.monotonic()
    assert error_of(lake.listing, "") == f"s3://lake/raw/: cannot reach the S3 endpoint {endpoint}"
    assert error_of(lake.tail, "a.parquet", 8) == (
        f"s3://lake/raw/a.parquet: cannot reach the S3 endpoint {endpoint}")
    assert time.monotonic() - started < 60  # refused, retried with backoff: not two 30 s read timeouts x 5


@pytest.fixture
def truncating_endpoint() -> Iterator[str]:
    """An HTTP endpoint that promises a megabyte and hangs up after a kilobyte, as a dying server does."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        with listener, contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n"
                                   b"Content-Type: binary/octet-stream\r\n\r\n" + b"x" * 1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    thread.join(timeout=30)


@pytest.mark.usefixtures("s3")  # for its credentials
def test_a_connection_lost_mid_read_is_a_store_error(truncating_endpoint: str) -> None:
    lake = S3Store("lake", endpoint_url=truncating_endpoint)
    with lake.open("big.csv") as handle:
        message = error_of(handle.read)
    assert message == (
        f"s3://lake/big.csv: the connection to the S3 endpoint {truncating_endpoint} broke while reading")


def test_one_client_serves_many_threads(s3: S3Lake) -> None:
    bodies = {f"files/f{index:03d}.bin": os.urandom(100 + index) for index in range(64)}
    s3.bucket("lake", bodies)
    lake = S3Store("lake", endpoint_url=s3.endpoint_url, max_pool=16)
    work = [key for key in bodies for _ in range(4)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        tails = list(pool.map(lambda key: lake.tail(key, 50), work))
    assert tails == [(bodies[key][-50:], len(bodies[key])) for key in work]
    assert lake.requests == {"get": 256}


def write_tree(root: Path, tree: dict[str, bytes]) -> None:
    for key, body in tree.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def summary(lake: ObjectStore) -> list[object]:
    """What a check sees of a tree: keys, sizes and prefixes of several listings, and tails."""
    seen: list[object] = []
    for prefix in ("", "orders/", "orders/dt=", "cust", "notes/", "missing/"):
        for delimiter in (None, "/"):
            listing = lake.listing(prefix, delimiter)
            seen.append([(info.key, info.size) for info in listing.objects])
            seen.append(listing.prefixes)
    for key in keys(lake.listing("")):
        seen.extend([lake.tail(key, 4), lake.tail(key, 100_000)])
        with lake.open(key) as handle:
            seen.append(handle.read())
    return seen


def test_local_and_s3_stores_see_the_same_tree(s3: S3Lake, tmp_path: Path) -> None:
    write_tree(tmp_path / "lake", TREE)
    s3.bucket("bucket", {f"lake/{key}": body for key, body in TREE.items()} | {"lakeside/x.csv": b"x"})
    local, remote = LocalStore(tmp_path / "lake"), store(s3, bucket="bucket", prefix="lake")
    assert summary(remote) == summary(local)
    assert remote.requests == local.requests
    assert len(keys(remote.listing(""))) == len(TREE)
