"""Local TCP forwarders: many distinct host:port addresses that all reach one server.

An instance is its source's host:port, so N instances of the one local MariaDB need N addresses. Used by the
density benchmark and by tests/engine/test_density.py:

    with Forwarders("127.0.0.1", 3306, count=100) as ports:   # [port, ...] on 127.0.0.1
        ...
"""
from __future__ import annotations

import asyncio
import threading

CHUNK = 1 << 16


async def _pipe(reader, writer):
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class Forwarders:
    """`count` listening ports on 127.0.0.1 relaying every connection to (host, port), from one thread running
    an asyncio loop; `ports` once entered."""

    def __init__(self, host, port, count):
        self.host, self.port, self.count = host, int(port), count
        self.ports: list[int] = []
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-forwarders", daemon=True)
        self._servers = []
        self._writers = set()  # live connections, both sides, closed on exit

    async def _relay(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_writer.close()
            return
        pair = {client_writer, server_writer}
        self._writers |= pair
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            self._writers -= pair

    async def _listen(self):
        for _ in range(self.count):
            server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
            self._servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._listen())
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the forwarders did not start")
        return self.ports

    def __exit__(self, *exc):
        async def close():
            for server in self._servers:
                server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
