"""amqp://user:pass@host:port/vhost?exchange=…&topic=…

The same JSON messages as Kafka (workers/sinks/messages.py), published with
publisher confirms: `write` returns after RabbitMQ confirmed every message of
the batch, and raises SinkError on a nack, an unroutable message or a lost
connection (the engine then re-delivers the batch; consumers deduplicate by the
message_id `file:pos:seq:type`).

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
Other query parameters (heartbeat, connection_attempts, …) go to pika.

Options read: order_type, business_keys, with_trx, protocol, instance as for
Kafka; the message key is sent as the `key` header (RabbitMQ has no partitions:
one queue keeps the publish order).
"""
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from .base import Sink, SinkError
from .kafka import _flag, instance_name
from .messages import Keyer, encoder, framed, transaction_marker
from .templates import render

_OWN_PARAMS = {"exchange", "exchange_type", "topic", "queue", "bind", "protocol", "mandatory", "declare",
               "order_type", "with_trx"}


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
            self.protocol = opts.get("protocol") or "canal-json"
            self.encode = encoder(self.protocol)
            self.keyer = Keyer(opts.get("order_type"), opts.get("business_keys"), instance_name(opts, subscription))
            self.parameters = pika.URLParameters(self.connection_url)
        except ValueError as exc:
            raise SinkError(f"amqp URI: {exc}", retryable=False) from None
        self._connection = None
        self._channel = None

    def _get_channel(self):
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        try:
            self._connection = pika.BlockingConnection(self.parameters)
            channel = self._connection.channel()
            channel.confirm_delivery()
            if self.declare and self.exchange:
                channel.exchange_declare(self.exchange, exchange_type=self.exchange_type, durable=True)
            if self.declare and self.queue:
                channel.queue_declare(self.queue, durable=True)
                if self.exchange:
                    channel.queue_bind(self.queue, self.exchange, routing_key=self.bind)
        except AMQPError as exc:
            self.close()
            raise SinkError(f"RabbitMQ at {self.host}: {type(exc).__name__} {exc}".strip()) from None
        self._channel = channel
        return channel

    def messages(self, batch):
        """(routing key, message key, body, message id) for every message of the batch, in order."""
        for kind, change, is_last, position in framed(batch, self.with_trx):
            routing_key = render(self.topic, change) if change is not None else self.topic
            key = self.keyer.key(change) if change is not None else None
            if kind == "ROW":
                parts = self.keyer.split(change)
                for i, part in enumerate(parts):
                    message_id = f"{position.binlog_file}:{position.binlog_pos}:{part.seq}:{part.type}"
                    yield routing_key, self.keyer.key(part), self.encode(part, is_last and i == len(parts) - 1), \
                        message_id
            else:
                body = transaction_marker(kind, position, self.protocol, getattr(change, "timestamp", 0))
                yield routing_key, key, body, f"{position.binlog_file}:{position.binlog_pos}:{kind}"

    def write(self, batch) -> None:
        channel = self._get_channel()
        for routing_key, key, body, message_id in self.messages(batch):
            properties = pika.BasicProperties(
                delivery_mode=2, content_type="application/json", message_id=message_id,
                headers={"key": key} if key is not None else None,
            )
            try:
                channel.basic_publish(self.exchange, routing_key, body, properties, mandatory=self.mandatory)
            except UnroutableError:
                self.close()
                raise SinkError(f"RabbitMQ: no queue receives routing key '{routing_key}' on exchange "
                                f"'{self.exchange or '(default)'}'") from None
            except NackError:
                self.close()
                raise SinkError(f"RabbitMQ refused (nack) a message for routing key '{routing_key}'") from None
            except AMQPError as exc:
                self.close()
                raise SinkError(f"RabbitMQ at {self.host}: {type(exc).__name__} {exc}".strip()) from None

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass


SINK_CLASS = AmqpSink
