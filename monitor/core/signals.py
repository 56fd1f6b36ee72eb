"""Stop signals belong to the main thread.

Linux hands a process-wide signal to any thread that does not block it. When a worker thread takes Ctrl-C, the
main thread, blocked waiting for the workers, never wakes to act on it: the interrupt is noticed only once the
waiting ends. Worker threads therefore block the stop signals, and threads they start inherit that.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
from collections.abc import Callable
from queue import Empty, SimpleQueue

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def block_stop_signals() -> None:
    """Use as a thread pool's `initializer`: this thread never receives SIGINT, SIGTERM or SIGHUP."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


class SignalInbox:
    """The daemon's stop and reload requests, noticed at once whichever thread the kernel gave the signal to.

    Handlers only queue an event (a SimpleQueue may be used from a handler). CPython runs handlers in the main
    thread, but only when it runs bytecode; the wakeup socket makes a main thread waiting in `next` return at
    once, even when the signal landed on another thread. A second stop signal exits without waiting.
    """

    def __init__(self, events: dict[signal.Signals, str], on_second_stop: Callable[[], None]) -> None:
        self._events = events
        self._queue: SimpleQueue[str] = SimpleQueue()
        self._stopping = False
        self._on_second_stop = on_second_stop
        self._wake, writer = socket.socketpair()
        self._wake.setblocking(False)
        writer.setblocking(False)
        self._writer = writer  # kept open for as long as the wakeup fd is set
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        for signum in events:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        event = self._events[signal.Signals(signum)]
        if event == "stop":
            if self._stopping:
                self._on_second_stop()
            self._stopping = True
        self._queue.put(event)

    def next(self, timeout: float) -> str | None:
        """The next event, waiting up to `timeout` seconds; None when none came."""
        if self._queue.empty():
            select.select([self._wake], [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                self._wake.recv(4096)
        try:
            return self._queue.get_nowait()
        except Empty:
            return None
