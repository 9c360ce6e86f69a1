"""amqp://user:pass@host:port/vhost?exchange=…&topic=…

The same JSON messages as Kafka (workers/sinks/messages.py), published with
publisher confirms: `write` returns after RabbitMQ confirmed every message of
the batch, and raises SinkError on a nack, an unroutable message or a lost
connection (the engine then re-delivers the batch; consumers deduplicate by the
message_id `file:pos:seq:type`).

Confirms are pipelined: `write` publishes the whole batch, then runs the I/O
loop until every delivery tag is settled (acks and nacks may cover several
tags at once with multiple=True, and may arrive out of order). pika's
BlockingChannel waits for each confirm before the next publish (one round trip
per message, ~1k messages/s); pika's SelectConnection, driven here
synchronously (`ioloop.start()` until a callback has what `write` waits for,
then `ioloop.stop()`), gives the same guarantee with one round trip per batch,
with pika's asynchronous API and no new dependency (aio-pika would need an
asyncio loop per worker thread for the same result; reaching into the
BlockingChannel's `_impl` would mix two callback owners on one channel). The
one private call is `_terminate_stream`, to drop a connection whose broker
stopped answering (pika has no timeout for the Close handshake). Running the
loop while a batch is still being encoded, to overlap our encoding with the
broker's work, measured slower on 2 cores (the broker and the encoder compete
for them), so the batch goes out in one go. Any failure (nack, basic.return,
channel or connection closed, no confirm within `confirm_timeout`) drops the
connection, so late confirms of a failed batch can never be counted for the
next one; the next `write` reconnects. Before publishing, `write` lets the loop
read what arrived while the sink was idle, so a connection the broker closed
meanwhile (missed heartbeats) is replaced without failing the batch.

URI query parameters:
    exchange        exchange to publish to ('' = the default exchange, where the
                    routing key names a queue); declared durable unless declare=0
    exchange_type   topic (default), direct, fanout, headers
    topic           the routing key, a template (`{$SchemaName}.{$TableName}` default)
    queue           optional durable queue declared and bound to the exchange
    bind            its binding key (default '#', or the topic for direct exchanges)
    protocol        canal-json (default) | maxwell
    mandatory       1 (default): a message no queue receives is an error, never silently lost
    declare         1 (default): declare the exchange (and queue)
    confirm_timeout seconds to wait for the broker (connect, declare, confirms of a
                    batch; default 60): a blocked or silent broker fails the write
                    (it is also pika's stack_timeout unless that is given)
Other query parameters go to pika: only those of the allow-list in options.py (heartbeat,
connection_attempts, …; never ssl_options or tcp_options), which Sink.__init__ enforces.

Options read: topic (an MQ rule's topic: the routing key), order_type,
business_keys, with_trx, protocol, instance as for Kafka; the message key is sent as the `key` header (RabbitMQ has no partitions:
one queue keeps the publish order).
"""
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
from pika.adapters.select_connection import SelectConnection
from pika.exceptions import (AMQPConnectionError, AMQPError, ChannelClosedByBroker, ChannelClosedByClient,
                             ConnectionClosedByBroker)

from .base import Sink, SinkError
from .kafka import _flag, instance_name
from .messages import Keyer, encoder, framed, transaction_marker
from .templates import compiled, render

_OWN_PARAMS = {"exchange", "exchange_type", "topic", "queue", "bind", "protocol", "mandatory", "declare",
               "confirm_timeout", "order_type", "with_trx"}

def _reason(exc) -> str:
    """Why pika closed a connection or channel, without the connection parameters."""
    if isinstance(exc, (ChannelClosedByBroker, ConnectionClosedByBroker)):
        return f"({exc.reply_code}) {exc.reply_text}"
    return f"{type(exc).__name__} {exc}".strip()


class AmqpSink(Sink):
    def __init__(self, uri, options=None, subscription=None):
        super().__init__(uri, options, subscription)
        parts = urlsplit(uri)
        pairs = parse_qsl(parts.query)
        own = {k: v for k, v in pairs if k in _OWN_PARAMS}
        opts = {**own, **self.options}
        self.host = parts.hostname or "localhost"
        self.connection_url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(
            [(k, v) for k, v in pairs if k not in _OWN_PARAMS]), ""))
        self.exchange = opts.get("exchange", "")
        self.exchange_type = opts.get("exchange_type", "topic")
        self.topic = opts.get("topic") or "{$SchemaName}.{$TableName}"
        self.queue = opts.get("queue", "")
        self.bind = opts.get("bind") or ("#" if self.exchange_type == "topic" else self.topic)
        self.mandatory = _flag(opts.get("mandatory", "1"))
        self.declare = _flag(opts.get("declare", "1"))
        self.with_trx = _flag(opts.get("with_trx", False))
        try:
            self.confirm_timeout = float(opts.get("confirm_timeout") or 60)
            if self.confirm_timeout <= 0:
                raise ValueError("confirm_timeout must be positive")
            self.protocol = opts.get("protocol") or "canal-json"
            self.encode = encoder(self.protocol)
            self.keyer = Keyer(opts.get("order_type"), opts.get("business_keys"), instance_name(opts, subscription))
            self.parameters = pika.URLParameters(self.connection_url)
            if "stack_timeout" not in dict(pairs):  # connecting is bounded by confirm_timeout too
                self.parameters.stack_timeout = self.confirm_timeout
        except ValueError as exc:
            raise SinkError(f"amqp URI: {exc}", retryable=False) from None
        self._connection = None
        self._channel = None
        self._failure = None       # why the current connection is unusable (set by callbacks)
        self._published = 0        # delivery tag of the last publish on the channel
        self._unconfirmed = set()  # delivery tags not yet acked
        self._floor = 1            # every tag below it is settled

    # -- driving the I/O loop ---------------------------------------------------------------

    def _run_until(self, done, deadline, waiting_for):
        """Run the connection's I/O loop until done() or a failure; SinkError on either failure or deadline."""
        ioloop = self._connection.ioloop
        while self._failure is None and not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close(abort=True)  # a broker that does not answer would not answer a Close either
                raise SinkError(f"RabbitMQ at {self.host}: no answer within {self.confirm_timeout:g} s "
                                f"({waiting_for})")
            timer = ioloop.call_later(remaining, ioloop.stop)
            try:
                ioloop.start()  # until a callback (or the timer) stops it
            finally:
                ioloop.remove_timeout(timer)
        if self._failure is not None:
            failure = self._failure
            self.close()
            raise SinkError(failure)

    def _call(self, start, deadline, what):
        """Start an asynchronous pika operation and wait for its callback; returns the callback's argument."""
        result = []

        def on_done(value=None):
            result.append(value)
            self._connection.ioloop.stop()

        start(on_done)
        self._run_until(lambda: result, deadline, what)
        return result[0]

    def _fail(self, message):
        if self._failure is None:
            self._failure = message
        if self._connection is not None:
            self._connection.ioloop.stop()

    # -- pika callbacks ---------------------------------------------------------------------

    def _on_connection_closed(self, connection, exc):
        connection.ioloop.stop()  # also ends close()'s wait for the Close handshake
        if connection is self._connection:
            self._fail(f"RabbitMQ at {self.host}: connection lost: {_reason(exc)}")

    def _on_open_error(self, connection, exc):
        self._fail(f"RabbitMQ at {self.host}: {_reason(exc)}")

    def _on_channel_closed(self, channel, exc):
        if channel is not self._channel and self._channel is not None:
            return
        if isinstance(exc, ChannelClosedByBroker):
            hint = ""
            if exc.reply_code == 406 and "larger than configured max size" in str(exc.reply_text):
                # a big row (LONGBLOB/JSON): the broker's own text gives both sizes but not the setting's name
                hint = (" (a message larger than the broker's max_message_size, 128 MB by default; raise it in "
                        "rabbitmq.conf or leave the row's table or column out of this subscription)")
            self._fail(f"RabbitMQ at {self.host} closed the channel: {_reason(exc)}{hint}")
        elif not isinstance(exc, ChannelClosedByClient):  # the connection went down with it
            self._fail(f"RabbitMQ at {self.host}: connection lost: {_reason(exc)}")

    def _on_return(self, channel, method, properties, body):
        self._fail(f"RabbitMQ: no queue receives routing key '{method.routing_key}' on exchange "
                   f"'{method.exchange or '(default)'}' ({method.reply_code} {method.reply_text})")

    def _on_confirm(self, frame):
        method = frame.method
        tag = method.delivery_tag
        if isinstance(method, pika.spec.Basic.Nack):
            self._fail(f"RabbitMQ refused (nack) message {tag}{' and earlier' if method.multiple else ''}")
            return
        if method.multiple:
            for settled in range(self._floor, tag + 1):
                self._unconfirmed.discard(settled)
            self._floor = max(self._floor, tag + 1)
        else:
            self._unconfirmed.discard(tag)
        if not self._unconfirmed and self._connection is not None:
            self._connection.ioloop.stop()  # the batch is confirmed: back to write()

    # -- connection -------------------------------------------------------------------------

    def _open(self):
        self._failure, self._published, self._unconfirmed, self._floor = None, 0, set(), 1
        # pika ends a stuck connection attempt itself (stack_timeout, reported to _on_open_error); its
        # workflow cannot be abandoned from outside, so this deadline is only a backstop
        deadline = time.monotonic() + (self.parameters.stack_timeout or self.confirm_timeout) + 5
        try:
            self._call(lambda done: setattr(self, "_connection", SelectConnection(
                self.parameters, on_open_callback=done, on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_connection_closed)), deadline, "connect")
            deadline = time.monotonic() + self.confirm_timeout
            channel = self._call(lambda done: self._connection.channel(on_open_callback=done), deadline, "channel")
            channel.add_on_close_callback(self._on_channel_closed)
            channel.add_on_return_callback(self._on_return)
            self._call(lambda done: channel.confirm_delivery(self._on_confirm, callback=done), deadline,
                       "confirm.select")
            if self.declare and self.exchange:
                self._call(lambda done: channel.exchange_declare(
                    self.exchange, exchange_type=self.exchange_type, durable=True, callback=done), deadline,
                    "exchange.declare")
            if self.declare and self.queue:
                self._call(lambda done: channel.queue_declare(self.queue, durable=True, callback=done), deadline,
                           "queue.declare")
                if self.exchange:
                    self._call(lambda done: channel.queue_bind(
                        self.queue, self.exchange, routing_key=self.bind, callback=done), deadline, "queue.bind")
        except AMQPError as exc:  # raised synchronously by pika, e.g. a bad parameter
            self.close()
            raise SinkError(f"RabbitMQ at {self.host}: {_reason(exc)}") from None
        self._channel = channel

    def _one_pass(self):
        """Let the I/O loop do what it can without waiting: send what is buffered, read what arrived."""
        ioloop = self._connection.ioloop
        ioloop.call_later(0, ioloop.stop)  # fires in this very pass, after the poll
        ioloop.start()

    def _ready_channel(self):
        """The open channel, reconnecting if the broker closed it since the last write (e.g. idle, heartbeats)."""
        if self._connection is not None and self._failure is None:
            self._one_pass()  # notices a connection the broker closed while we were idle
        if self._connection is None or self._failure is not None or not self._channel.is_open:
            self.close()
            self._open()
        return self._channel

    # -- writing ----------------------------------------------------------------------------

    def messages(self, batch):
        """(routing key, message key, body, message id) for every message of the batch, in order."""
        keyer, encode = self.keyer, self.encode
        static_topic = compiled(self.topic).static
        for kind, change, is_last, position in framed(batch, self.with_trx):
            if static_topic is not None:
                routing_key = static_topic
            else:
                routing_key = render(self.topic, change) if change is not None else self.topic
            if kind == "ROW":
                parts = keyer.split(change)
                for i, part in enumerate(parts):
                    message_id = f"{position.binlog_file}:{position.binlog_pos}:{part.seq}:{part.type}"
                    yield routing_key, keyer.key(part), encode(part, is_last and i == len(parts) - 1), message_id
            else:
                key = keyer.key(change) if change is not None else None
                body = transaction_marker(kind, position, self.protocol, getattr(change, "timestamp", 0))
                yield routing_key, key, body, f"{position.binlog_file}:{position.binlog_pos}:{kind}"

    def write(self, batch) -> None:
        channel = self._ready_channel()
        publish, unconfirmed = channel.basic_publish, self._unconfirmed
        try:
            for routing_key, key, body, message_id in self.messages(batch):
                properties = pika.BasicProperties(
                    delivery_mode=2, content_type="application/json", message_id=message_id,
                    headers={"key": key} if key is not None else None,
                )
                publish(self.exchange, routing_key, body, properties, mandatory=self.mandatory)
                self._published += 1
                unconfirmed.add(self._published)
        except AMQPError as exc:
            self.close()
            raise SinkError(f"RabbitMQ at {self.host}: {_reason(exc)}") from None
        except BaseException:
            self.close()  # part of the batch is in flight: its confirms must not count for the next one
            raise
        self._run_until(lambda: not unconfirmed, time.monotonic() + self.confirm_timeout, "publisher confirms")

    def close(self, abort=False) -> None:
        """Close the connection: the AMQP Close handshake (up to 2 s), else (or with abort) drop the socket."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is None:
            return
        ioloop = connection.ioloop
        try:
            if connection.is_open and not abort:
                connection.close()
                self._run_closing(connection, time.monotonic() + 2)
            if not connection.is_closed:
                if connection.is_open or connection.is_closing:
                    # pika has no timeout for the Close handshake; this is how its own heartbeat checker drops
                    # a connection whose broker stopped answering
                    connection._terminate_stream(AMQPConnectionError("connection abandoned"))
                    self._run_closing(connection, time.monotonic() + 2)
                # (still opening: pika's stack_timeout ends the connection workflow, see _open)
        except AMQPError:
            pass
        finally:
            ioloop.close()

    @staticmethod
    def _run_closing(connection, deadline):
        ioloop = connection.ioloop
        while not connection.is_closed and time.monotonic() < deadline:
            timer = ioloop.call_later(max(0.0, deadline - time.monotonic()), ioloop.stop)
            ioloop.start()  # _on_connection_closed stops it as soon as the connection is closed
            ioloop.remove_timeout(timer)


SINK_CLASS = AmqpSink
