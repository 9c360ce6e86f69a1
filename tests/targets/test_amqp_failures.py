"""RabbitMQ target failure paths against the local broker: nacks, returns, channel errors, lost connections.

A lost or silent connection is produced for real by a small TCP proxy between
the sink and the broker (RabbitMQ itself cannot be stopped: it is shared).
"""
import select
import socket
import struct
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.frame
import pika.spec
import pytest

from workers.events import Batch, Position, RowChange
from workers.sinks import SinkError, open_sink

from .mq_helpers import amqp_uri, drain


def rows_batch(count, start=0, file="mysql-bin.000009", tx_rows=100):
    """A batch of `count` inserts into d.t in transactions of `tx_rows`, with distinct message ids."""
    batch = Batch()
    for tx_start in range(start, start + count, tx_rows):
        position = Position(file, 4 + tx_start * 10)
        tx = []
        for seq, i in enumerate(range(tx_start, min(tx_start + tx_rows, start + count))):
            change = RowChange("d", "t", "INSERT", {"id": i, "note": "x" * 200}, None, ("id",), position,
                               timestamp=1700000000)
            change.seq = seq
            tx.append(change)
        batch.transactions.append((len(batch.changes), len(batch.changes) + len(tx), position))
        batch.changes.extend(tx)
    batch.end = batch.transactions[-1][2]
    return batch


def message_ids(sink, batch):
    return [message_id for _, _, _, message_id in sink.messages(batch)]


def drained_ids(amqp_url, queue):
    """Message ids of every message waiting in the queue (which is then deleted)."""
    return [props.message_id for _, props, _ in drain(amqp_url, queue)]


@pytest.fixture
def admin(amqp_url):
    """A blocking channel for setting the broker up; deletes what the test registered."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = conn.channel()
    queues, exchanges = [], []
    channel.created = (queues, exchanges)
    yield channel
    cleanup = conn.channel() if not channel.is_open else channel
    for queue in queues:
        cleanup.queue_delete(queue)
    for exchange in exchanges:
        cleanup.exchange_delete(exchange)
    conn.close()


class Proxy:
    """TCP proxy to the broker that can reset every connection or stop passing the broker's answers."""

    def __init__(self, host, port):
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pumps = []         # one thread per proxied connection
        self.cut_after = None   # reset everything once this many more client bytes went upstream
        self.frozen = False     # hold the broker's bytes (a silent broker)
        self.generation = 0     # connections of an older generation are reset by their pump
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, amqp_url):
        parts = urlsplit(amqp_url)
        netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            pump = threading.Thread(target=self._pump, args=(client, socket.create_connection(self.upstream),
                                                              self.generation), daemon=True)
            with self.lock:
                self.pumps.append(pump)
            pump.start()

    def _pump(self, client, upstream, generation):
        held = []
        try:
            while self.generation == generation:
                readable, _, _ = select.select([client, upstream], [], [], 0.02)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                        with self.lock:
                            if self.cut_after is not None:
                                self.cut_after -= len(data)
                                if self.cut_after <= 0:
                                    self.cut_after = None
                                    self.generation += 1
                    elif self.frozen:
                        held.append(data)
                    else:
                        client.sendall(b"".join(held) + data)
                        held.clear()
        except OSError:
            pass
        finally:
            for sock in (client, upstream):  # RST, as a crashed peer or a dead path would look
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()

    def cut(self):
        """Reset every connection; returns once the resets are sent."""
        with self.lock:
            self.generation += 1
            pumps, self.pumps = self.pumps, []
        for pump in pumps:
            pump.join(5)

    def close(self):
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy(amqp_url):
    parts = urlsplit(amqp_url)
    p = Proxy(parts.hostname, parts.port)
    yield p
    p.close()


def test_a_big_batch_is_confirmed_at_once_and_complete(amqp_url):
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(amqp_url, exchange="tw5.events", queue=queue, topic="d.t"))
    batch = rows_batch(5000)
    sink.write(batch)  # 5,000 publishes in flight, confirmed by (mostly multiple=True) acks
    expected = message_ids(sink, batch)
    sink.close()
    assert len(expected) == 5000 and expected[-1] == "mysql-bin.000009:49004:99:INSERT"
    got = drained_ids(amqp_url, queue)
    assert got == expected  # one queue keeps the publish order


def test_acks_and_nacks_settle_tags_individually_multiply_and_out_of_order(amqp_url):
    sink = open_sink(amqp_uri(amqp_url, topic="x"))

    def ack(tag, multiple=False, nack=False):
        method = (pika.spec.Basic.Nack if nack else pika.spec.Basic.Ack)(delivery_tag=tag, multiple=multiple)
        sink._on_confirm(pika.frame.Method(1, method))

    sink._unconfirmed = set(range(1, 11))
    ack(7)
    ack(4, multiple=True)
    assert sink._unconfirmed == {5, 6, 8, 9, 10}
    ack(6)
    ack(9, multiple=True)
    assert sink._unconfirmed == {10} and sink._failure is None
    ack(10)
    assert not sink._unconfirmed
    sink._unconfirmed = {11, 12}
    ack(12, multiple=True, nack=True)
    assert "nack" in sink._failure


def test_a_nack_fails_the_write(amqp_url, admin):
    # reject-publish: RabbitMQ nacks what a full queue cannot take (a real nack, no mock)
    queue = "tw5-full-" + uuid.uuid4().hex[:8]
    admin.queue_declare(queue, durable=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    admin.created[0].append(queue)
    sink = open_sink(amqp_uri(amqp_url, topic=queue))  # default exchange: the routing key names the queue
    with pytest.raises(SinkError, match=r"refused \(nack\)") as err:
        sink.write(rows_batch(3))
    assert err.value.retryable
    admin.queue_purge(queue)
    sink.write(rows_batch(1))  # reconnects; room for one message again
    sink.close()
    assert admin.queue_declare(queue, passive=True).method.message_count == 1


def test_a_return_fails_the_write_until_a_queue_is_bound(amqp_url, admin):
    exchange = "tw5.nobody-" + uuid.uuid4().hex[:8]
    queue = "tw5-" + uuid.uuid4().hex[:8]
    admin.created[1].append(exchange)
    sink = open_sink(amqp_uri(amqp_url, exchange=exchange, topic="nowhere"))
    with pytest.raises(SinkError, match=f"no queue receives routing key 'nowhere' on exchange '{exchange}'"):
        sink.write(rows_batch(10))
    admin.queue_declare(queue, durable=True)
    admin.created[0].append(queue)
    admin.queue_bind(queue, exchange, routing_key="nowhere")
    batch = rows_batch(10, start=10)
    sink.write(batch)
    sink.close()
    assert admin.queue_declare(queue, passive=True).method.message_count == len(message_ids(sink, batch))


def test_a_missing_exchange_closes_the_channel_and_fails_the_write(amqp_url, admin):
    exchange = "tw5.missing-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(amqp_url, exchange=exchange, topic="d.t", declare=0))
    with pytest.raises(SinkError, match=f"NOT_FOUND - no exchange '{exchange}'") as err:
        sink.write(rows_batch(5))
    assert err.value.retryable
    with pytest.raises(SinkError, match="NOT_FOUND"):  # still missing: the next write fails the same way
        sink.write(rows_batch(5))
    queue = "tw5-" + uuid.uuid4().hex[:8]
    admin.exchange_declare(exchange, exchange_type="topic", durable=True)
    admin.created[1].append(exchange)
    admin.queue_declare(queue, durable=True)
    admin.created[0].append(queue)
    admin.queue_bind(queue, exchange, routing_key="#")
    sink.write(rows_batch(5))
    sink.close()
    assert admin.queue_declare(queue, passive=True).method.message_count == 5


def test_a_message_past_max_message_size_fails_the_write_naming_the_limit(amqp_url, admin):
    # a 100 MB BLOB: ~133 MB of base64 in its message, past RabbitMQ's default max_message_size (128 MB)
    queue = "tw5-" + uuid.uuid4().hex[:8]
    admin.queue_declare(queue, durable=True)
    admin.created[0].append(queue)
    sink = open_sink(amqp_uri(amqp_url, topic=queue))
    position = Position("mysql-bin.000009", 4)
    big = RowChange("d", "t", "INSERT", {"id": 1, "b": b"x" * (100 << 20)}, None, ("id",), position)
    with pytest.raises(SinkError, match=r"message size \d+ is larger than configured max size 134217728") as err:
        sink.write(Batch(changes=[big], end=position, transactions=[(0, 1, position)]))
    assert "the broker's max_message_size, 128 MB by default" in str(err.value)
    sink.write(rows_batch(2))  # the sink goes on with the next messages on a new channel
    sink.close()
    assert admin.queue_declare(queue, passive=True).method.message_count == 2


def test_a_connection_dropped_mid_batch_is_retryable_and_redelivery_loses_nothing(amqp_url, proxy):
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(proxy.url(amqp_url), exchange="tw5.events", queue=queue, topic="d.t"))
    first, second = rows_batch(200), rows_batch(3000, start=200)
    sink.write(first)
    proxy.cut_after = 200_000  # of ~1.5 MB: the broker gets part of the batch, then the connection drops
    with pytest.raises(SinkError, match="connection lost") as err:
        sink.write(second)
    assert err.value.retryable and proxy.cut_after is None
    sink.write(second)  # the engine re-delivers the batch: the sink reconnects
    expected = message_ids(sink, first) + message_ids(sink, second)
    sink.close()
    assert len(set(expected)) == 3200
    got = drained_ids(amqp_url, queue)
    assert set(got) == set(expected)  # nothing lost; what the broker took before the drop comes twice
    assert got[:len(message_ids(sink, first))] == message_ids(sink, first)
    assert got[-len(message_ids(sink, second)):] == message_ids(sink, second)


def test_a_connection_closed_while_idle_is_reopened_without_an_error(amqp_url, proxy):
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(proxy.url(amqp_url), queue=queue, topic=queue))
    sink.write(rows_batch(10))
    proxy.cut()  # e.g. the broker dropped an idle connection (missed heartbeats)
    sink.write(rows_batch(10, start=10))
    sink.close()
    assert len(drained_ids(amqp_url, queue)) == 20


def test_a_silent_broker_fails_the_write_after_confirm_timeout(amqp_url, proxy):
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(proxy.url(amqp_url), queue=queue, topic=queue, confirm_timeout=1))
    sink.write(rows_batch(10))
    proxy.frozen = True  # the broker's confirms never reach the sink (blocked broker, dead path)
    with pytest.raises(SinkError, match=r"no answer within 1 s \(publisher confirms\)") as err:
        sink.write(rows_batch(10, start=10))
    assert err.value.retryable
    proxy.cut()
    # Nor does a new connection get through; it ends with pika's connection-setup timeout, which the sink
    # bounds by confirm_timeout (stack_timeout), not by hanging.
    assert sink.parameters.stack_timeout == 1
    with pytest.raises(SinkError, match="Timeout while setting up AMQP") as err:
        sink.write(rows_batch(10, start=10))
    assert err.value.retryable
    proxy.frozen = False
    sink.write(rows_batch(10, start=10))
    sink.close()
    assert len(set(drained_ids(amqp_url, queue))) == 20


def test_messages_are_the_ones_the_blocking_publisher_sent(amqp_url):
    """Bodies and properties, pipelined: the canal-json messages and AMQP properties, written out."""
    queue = "tw5-" + uuid.uuid4().hex[:8]
    sink = open_sink(amqp_uri(amqp_url, queue=queue, topic=queue), {"order_type": "TABLE_ORDER"})
    batch = rows_batch(3)
    sink.write(batch)
    sink.close()
    got = drain(amqp_url, queue)
    assert len(got) == 3
    for seq, (routing_key, props, message) in enumerate(got):
        assert message.pop("ts") > 0  # canal-json `ts` is the time the message was built
        assert message == {"id": 0, "database": "d", "table": "t", "pkNames": ["id"], "isDdl": False,
                           "type": "INSERT", "es": 1700000000000, "sql": "", "data": [{"id": seq, "note": "x" * 200}],
                           "old": None, "logfileName": "mysql-bin.000009", "logfileOffset": 4, "gtid": "", "seq": seq}
        assert routing_key == queue and props.message_id == f"mysql-bin.000009:4:{seq}:INSERT"
        assert (props.delivery_mode, props.content_type, props.headers) == (2, "application/json", {"key": "d.t"})
