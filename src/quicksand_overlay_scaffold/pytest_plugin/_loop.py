"""One asyncio event loop in a background thread, shared by a whole test session.

quicksand's Sandbox is asynchronous and its connections belong to the loop that
started it. Running that loop in its own thread lets synchronous tests, fixtures
and the testinfra backend submit coroutines to it and wait for the result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread until ``close()``."""

    def __init__(self, name: str = "quicksand-overlay-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(
        self,
        awaitable: Awaitable[T],
        timeout: float | None = None,
        *,
        on_wait: Callable[[float], None] | None = None,
        interval: float = 60.0,
    ) -> T:
        """Run AWAITABLE on the loop and return its result; TIMEOUT is in seconds.

        ON_WAIT, if given, is called in the caller's thread with the seconds
        waited so far, every INTERVAL seconds until the result arrives.
        A KeyboardInterrupt or a timeout while waiting cancels the coroutine,
        so nothing keeps running in the background after the caller gave up.
        """
        if self._loop.is_closed() or not self._thread.is_alive():
            raise RuntimeError("the session's event loop is closed")
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), self._loop)
        try:
            return _wait(future, timeout, on_wait, interval)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the loop and wait for its thread to end."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            logger.warning("the session's event loop thread did not stop within 30 s")
            return
        self._loop.close()


def _wait(
    future: concurrent.futures.Future[T],
    timeout: float | None,
    on_wait: Callable[[float], None] | None,
    interval: float,
) -> T:
    """Wait up to TIMEOUT seconds for FUTURE, calling ON_WAIT every INTERVAL seconds."""
    if on_wait is None:
        return future.result(timeout)
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        wait = interval if timeout is None else min(interval, timeout - elapsed)
        try:
            return future.result(max(wait, 0.0))
        except concurrent.futures.TimeoutError:
            elapsed = time.monotonic() - started
            if timeout is not None and elapsed >= timeout:
                raise
            on_wait(elapsed)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
