"""A fake MySQL server that asks for the password in clear text and records every byte a client sends.

It speaks just enough of the protocol for a client to authenticate: the v10 handshake naming
`mysql_clear_password` (no TLS offered), an auth switch to that plugin, then "access denied".
A client that agrees to the plugin sends its password in the clear, which `received` shows.
"""
import asyncio
import struct
import threading

CLIENT_LONG_PASSWORD = 0x1
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_PLUGIN_AUTH_LENENC = 0x200000
CAPABILITIES = (CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION
                | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC)
PLUGIN = b"mysql_clear_password"


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def handshake():
    salt = b"abcdefghijklmnopqrst"
    return (b"\x0a" + b"5.7.99-fake\x00" + struct.pack("<I", 7) + salt[:8] + b"\x00"
            + struct.pack("<H", CAPABILITIES & 0xFFFF) + b"\x21" + struct.pack("<H", 2)
            + struct.pack("<H", CAPABILITIES >> 16) + bytes([len(salt) + 1]) + b"\x00" * 10 + salt[8:] + b"\x00"
            + PLUGIN + b"\x00")


def access_denied():
    return b"\xff" + struct.pack("<H", 1045) + b"#28000" + b"Access denied"


class FakeMySQL:
    def __init__(self):
        self.received = bytearray()
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = None

    def _run(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _read_packet(self, reader):
        header = await reader.readexactly(4)
        payload = await reader.readexactly(int.from_bytes(header[:3], "little"))
        self.received += header + payload
        return header[3], payload

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            writer.write(packet(0, handshake()))
            await writer.drain()
            seq, _response = await self._read_packet(reader)
            writer.write(packet(seq + 1, b"\xfe" + PLUGIN + b"\x00"))  # auth switch: send it in clear
            await writer.drain()
            seq, _password = await self._read_packet(reader)
            writer.write(packet(seq + 1, access_denied()))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up: what it sent so far is in `received`
        finally:
            writer.close()

    def start(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
