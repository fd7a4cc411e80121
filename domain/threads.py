"""Blocking calls run from the event loop, for the paho-based MQTT clients on both sides
(collector/mqtt and the alarm-host simulator)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


async def call_in_own_thread(function: Callable[[], object], *, name: str) -> None:
    """Run a blocking call in a thread of its own that ends with it (no executor left behind)."""
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    def target() -> None:
        try:
            function()
        finally:
            loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    await finished
    thread.join()
