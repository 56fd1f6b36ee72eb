"""One SQLAlchemy engine per database and settings in a process, shared by every SQL source opened on them.

An engine learns its dialect on its first connection (on PostgreSQL four statements in a transaction of their
own), so a source opened again (discovery and then the run of `demon check`, every rediscovery and reload of
the daemon) takes the engine already learnt. The last source to let go of an engine closes its pooled
connections; the engine itself stays, initialised, for the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

Alive = Callable[[Any], bool]  # whether a pooled driver connection is still usable, at no round trip


@dataclass
class _Shared:
    engine: sa.Engine
    users: int = 0


_lock = threading.Lock()
_engines: dict[tuple[str, str, str], _Shared] = {}


def acquire(
    url: URL, connect_args: dict[str, Any], options: dict[str, Any], alive: Alive | None
) -> sa.Engine:
    """The process's engine for these settings, created on first use; give it back with `release`.

    `alive`, when given, replaces SQLAlchemy's pre-ping, which costs a round trip per checkout.
    """
    key = (url.render_as_string(hide_password=False), repr(sorted(connect_args.items())),
           repr(sorted(options.items())))
    with _lock:
        shared = _engines.get(key)
        if shared is None:
            engine = sa.create_engine(url, connect_args=connect_args, **options)
            if alive is not None:
                sa.event.listen(engine, "checkout", _checking(alive))
            shared = _engines[key] = _Shared(engine)
        shared.users += 1
        return shared.engine


def release(engine: sa.Engine) -> None:
    """One source is done with `engine`: the last one closes its pooled connections."""
    with _lock:
        shared = next(shared for shared in _engines.values() if shared.engine is engine)
        shared.users -= 1
        if shared.users == 0:
            engine.dispose()


def _checking(alive: Alive) -> Callable[[Any, Any, Any], None]:
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not alive(proxy.driver_connection):
            raise sa.exc.DisconnectionError("the server closed the connection")  # the pool opens another

    return checkout
