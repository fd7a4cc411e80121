"""DuckDBStore beyond the shared contract (tests/storage/test_timeseries_contract.py)."""

from __future__ import annotations

import threading
import time

from sitewatch.storage.duckdb_store import DuckDBStore


def test_close_waits_for_a_call_in_progress_in_another_thread(tmp_path):
    """A shutdown cannot stop a chore's query running in a worker thread: closing under it
    failed the process's exit (duckdb: "connection is busy with another call")."""
    store = DuckDBStore(tmp_path / "samples.duckdb")
    inside, release = threading.Event(), threading.Event()
    results: list[object] = []

    def slow_reader() -> None:
        with store._cursor() as cur:
            inside.set()
            release.wait()
            results.append(cur.execute("SELECT count(*) FROM samples").fetchone()[0])

    reader = threading.Thread(target=slow_reader)
    reader.start()
    inside.wait()
    closer = threading.Thread(target=store.close)
    closer.start()
    time.sleep(0.2)  # what is checked is that nothing happens (a thread's timed join hangs under faketime)
    assert closer.is_alive(), "close() did not wait for the call in progress"
    release.set()
    reader.join()
    closer.join()
    assert results == [0], "the call in progress was cut off"
