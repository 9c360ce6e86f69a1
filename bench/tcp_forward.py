"""Local TCP forwarders: many distinct host:port addresses that all reach one server.

An instance is its source's host:port, so N instances of the one local MariaDB need N addresses. Used by the
density benchmark and by tests/engine/test_density.py:

    with Forwarders("127.0.0.1", 3306, count=100) as ports:   # [port, ...] on 127.0.0.1
        ...

Bytes move with splice(2) through a pipe, in the kernel: a hundred binlog streams relayed by the bench's own
process cost it little CPU, which the workers measured beside it need.
"""
from __future__ import annotations

import os
import selectors
import socket
import threading

CHUNK = 1 << 16


def _pump(src: socket.socket, dst: socket.socket):
    r, w = os.pipe()
    try:
        while True:
            moved = os.splice(src.fileno(), w, CHUNK)
            if not moved:
                break
            while moved:
                moved -= os.splice(r, dst.fileno(), moved)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Forwarders:
    """`count` listening ports on 127.0.0.1 relaying every connection to (host, port); `ports` once entered."""

    def __init__(self, host, port, count):
        self.host, self.port, self.count = host, int(port), count
        self.ports: list[int] = []
        self._listeners = []
        self._connections = []  # every socket, both sides, closed on exit
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-forwarders", daemon=True)

    def _accept(self):
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                try:
                    client, _ = key.fileobj.accept()
                    server = socket.create_connection((self.host, self.port), timeout=10)
                except OSError:
                    continue
                server.settimeout(None)
                with self._lock:
                    self._connections += [client, server]
                for src, dst in ((client, server), (server, client)):
                    threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def __enter__(self):
        for _ in range(self.count):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            listener.setblocking(False)
            self._selector.register(listener, selectors.EVENT_READ)
            self._listeners.append(listener)
            self.ports.append(listener.getsockname()[1])
        self._thread.start()
        return self.ports

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        for listener in self._listeners:
            listener.close()
        with self._lock:
            for sock in self._connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        self._selector.close()
