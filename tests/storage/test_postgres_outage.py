"""The database going away: at start, a typed error; mid-run, workers back off and resume, nothing lost.

The server is shared, so the outage is a TCP relay in front of it that drops every connection
and refuses new ones (as a dead server or a cut link does), then comes back on the same port.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from _pg import PG_URL
from queue_max import Queue
from queue_max.config import Settings
from queue_max.errors import StorageUnavailable
from queue_max.workers import Worker
from _helpers import wait_until

pytestmark = pytest.mark.slow


class Relay:
    """127.0.0.1:PORT -> the PostgreSQL server; `cut()` drops everything, `restore()` listens again."""

    def __init__(self) -> None:
        import psycopg.conninfo

        info = psycopg.conninfo.conninfo_to_dict(PG_URL)
        self.target = (str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.restore()

    def url(self) -> str:
        import psycopg.conninfo

        info = psycopg.conninfo.conninfo_to_dict(PG_URL)
        return f"postgresql://{info.get('user', 'postgres')}@127.0.0.1:{self.port}/{info.get('dbname', 'test')}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            doomed, self.sockets = self.sockets, []
        for sock in doomed:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def settings(schema: str) -> Settings:
    return Settings().with_(database_schema=schema)


def test_a_server_that_is_down_at_start_is_a_typed_error(schema):
    relay = Relay()
    relay.cut()
    with pytest.raises(StorageUnavailable, match=f"127.0.0.1:{relay.port}"):
        Queue(database_url=relay.url(), settings=settings(schema))


def test_workers_back_off_through_an_outage_and_resume_with_nothing_lost(schema):
    # Given 300 jobs, and a worker that reaches the server through a relay
    direct = Queue(database_url=PG_URL, rate_limit=0, settings=settings(schema))
    relay = Relay()
    through = Queue(database_url=relay.url(), rate_limit=0, settings=settings(schema), lease_timeout=3,
                    heartbeat_interval=0.5, recovery_interval=0.5)
    ids = direct.enqueue_batch([{"payload": {"n": n}} for n in range(300)])["ids"]
    ran: list[int] = []

    def handler(payload: dict) -> None:
        time.sleep(0.005)
        ran.append(payload["n"])

    worker = Worker("w", handler, through, concurrency=4, poll_interval=0.05)
    worker.start()
    try:
        # When the link is cut mid-run and comes back later
        assert wait_until(lambda: len(ran) >= 50)
        relay.cut()
        done_at_cut = direct.get_stats()["completed"]
        time.sleep(2.0)  # the outage lasts a while (nothing is asserted about timing)
        relay.restore()
        # Then the worker resumes and every job completes
        assert wait_until(lambda: direct.get_stats()["completed"] == 300, timeout=120)
    finally:
        worker.stop(10)
        through.close()
    assert done_at_cut < 300
    assert set(ran) == set(range(300))
    assert all(direct.get_job(job_id).status.value == "completed" for job_id in ids)
    direct.close()


