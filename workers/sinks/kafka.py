"""kafka://host:port[,host:port]/topic?protocol=canal-json|maxwell

One JSON message per row change (workers/sinks/messages.py), produced with
acks=all and idempotence on; `write` returns only after the broker acknowledged
every message of the batch, otherwise it raises SinkError and the engine
re-delivers the batch from the committed position (consumers deduplicate by the
(logfileName, logfileOffset, seq) every message carries).

The topic may be a template (`{$SchemaName}`, `{$TableName}`, see templates.py).

URI query parameters: protocol (canal-json, default; or maxwell), order_type,
with_trx (0/1), timeout (seconds to wait for acknowledgements, default 30), and
librdkafka properties of the allow-list in options.py (`?acks=all&compression.type=lz4`);
TiCDC's harmless sink-URI parameters (partition-num, kafka-version, ...) are accepted and ignored.
A `user:password@` in the URI turns on SASL PLAIN.

Options read (the MQ rule's settings, given by the engine; they win over the URI):
    order_type      NO_ORDER | BUSINESS_KEY_ORDER | TABLE_ORDER | DB_ORDER |
                    INSTANCE_ORDER (default) | TRANSACTION_ORDER — the message key
    business_keys   columns keying BUSINESS_KEY_ORDER (list, comma string, or
                    {'schema.table': [columns]}); default the primary key
    with_trx        frame each transaction with BEGIN/COMMIT messages
    topic           the MQ rule's topic, instead of the URI's
    protocol        as the URI parameter
    instance        'host:port' keying INSTANCE_ORDER (default the subscription's instance)
    table_order     per-table keying, a list of {"matcher": ["db.*", "!db.tmp"], "order_type": ORDER,
                    "business_keys": optional}: the first entry whose matcher matches `schema.table`
                    keys that table's messages; other tables use order_type (TiCDC's dispatchers,
                    mapped by workers/changefeed.py)
    producer_config extra librdkafka settings (dict; only the allow-list of options.py, which
                    Sink.__init__ enforces before any producer exists); they win over the URI's
"""
from fnmatch import fnmatchcase
from urllib.parse import parse_qs, unquote, urlsplit

from confluent_kafka import KafkaError, KafkaException, Producer

from .base import Sink, SinkError
from .messages import Keyer, encoder, framed, transaction_marker
from .options import client_properties
from .templates import compiled, render


class TableKeyers:
    """The Keyer of each table under `table_order`: first matching entry, else the sink's default Keyer."""

    def __init__(self, table_order, default, business_keys, instance):
        if not isinstance(table_order, list):
            raise ValueError("table_order must be a list of {matcher, order_type}")
        self.default = default
        self.rules = []
        for entry in table_order:
            matcher = entry.get("matcher") if isinstance(entry, dict) else None
            if isinstance(matcher, str):
                matcher = [matcher]
            if not matcher or not all(isinstance(p, str) for p in matcher):
                raise ValueError("each table_order entry needs a matcher: a list of 'schema.table' patterns")
            include = [p.strip() for p in matcher if not p.strip().startswith("!")]
            exclude = [p.strip()[1:].strip() for p in matcher if p.strip().startswith("!")]
            keyer = Keyer(entry.get("order_type"), entry.get("business_keys") or business_keys, instance)
            self.rules.append((include, exclude, keyer))
        self._cache = {}

    def __call__(self, change):
        table = (change.schema, change.table)
        keyer = self._cache.get(table)
        if keyer is None:
            name = f"{change.schema}.{change.table}"
            keyer = next((k for include, exclude, k in self.rules
                          if any(fnmatchcase(name, p) for p in include)
                          and not any(fnmatchcase(name, p) for p in exclude)), self.default)
            self._cache[table] = keyer
        return keyer


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def instance_name(options, subscription) -> str:
    if options.get("instance"):
        return str(options["instance"])
    instance = getattr(subscription, "instance", None)
    return f"{instance.host}:{instance.port}" if instance is not None else ""


# librdkafka's default producer message.max.bytes. A change whose message is larger (a big LONGBLOB/JSON row) is
# refused before it is sent: the subscription stops on it with that limit as its error (MustBeSuccess) or skips
# it (MustBeSuccess off); the dump goes on for its other subscriptions.
DEFAULT_MESSAGE_MAX_BYTES = 1000000


class KafkaSink(Sink):
    def __init__(self, uri, options=None, subscription=None):
        super().__init__(uri, options, subscription)
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        opts = {**query, **self.options}
        self.topic = opts.get("topic") or unquote(parts.path.lstrip("/"))
        if not self.topic:
            raise SinkError("kafka URI names no topic: kafka://host:port/<topic>", retryable=False)
        self.bootstrap = parts.netloc.rpartition("@")[2]
        try:
            self.protocol = opts.get("protocol") or "canal-json"
            self.encode = encoder(self.protocol)
            self.keyer = Keyer(opts.get("order_type"), opts.get("business_keys"), instance_name(opts, subscription))
            table_order = opts.get("table_order")
            self.keyer_for = (TableKeyers(table_order, self.keyer, opts.get("business_keys"),
                                          instance_name(opts, subscription))
                              if table_order else None)
        except ValueError as exc:
            raise SinkError(str(exc), retryable=False) from None
        self.with_trx = _flag(opts.get("with_trx", False))
        self.timeout = float(opts.get("timeout", 30))
        self.config = {
            "bootstrap.servers": self.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": int(self.timeout * 1000),
        }
        if parts.username:
            self.config.update({
                "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                "sasl.username": unquote(parts.username), "sasl.password": unquote(parts.password or ""),
            })
        self.config.update(client_properties(uri))
        self.config.update(opts.get("producer_config") or {})
        self._producer = None

    def _get_producer(self) -> Producer:
        if self._producer is None:
            try:
                self._producer = Producer(self.config)
            except KafkaException as exc:
                raise SinkError(f"Kafka producer for {self.bootstrap}: {exc.args[0].str()}", retryable=False) from None
        return self._producer

    def messages(self, batch):
        """(topic, key, value) for every message of the batch, in order."""
        protocol, encode, keyer, keyer_for = self.protocol, self.encode, self.keyer, self.keyer_for
        static_topic = compiled(self.topic).static
        for kind, change, is_last, position in framed(batch, self.with_trx):
            if static_topic is not None:
                topic = static_topic
            else:
                topic = render(self.topic, change) if change is not None else self.topic
            if keyer_for is not None and change is not None:
                keyer = keyer_for(change)
            if kind == "ROW":
                parts = keyer.split(change)
                if len(parts) == 1:
                    yield topic, keyer.key(change), encode(change, is_last)
                    continue
                for i, part in enumerate(parts):
                    yield topic, keyer.key(part), encode(part, is_last and i == len(parts) - 1)
            else:
                key = keyer.key(change) if change is not None else None
                yield topic, key, transaction_marker(kind, position, protocol, getattr(change, "timestamp", 0))

    def write(self, batch) -> None:
        producer = self._get_producer()
        failures = []

        def on_delivery(err, msg):
            if err is not None:
                failures.append(err)

        for n, (topic, key, value) in enumerate(self.messages(batch), 1):
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry this message
                    producer.poll(0.05)
                except KafkaException as exc:
                    self._discard()
                    err = exc.args[0]
                    if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                        raise SinkError(self._too_large(topic, value, err), retryable=False) from None
                    raise SinkError(f"Kafka produce to topic '{topic}': {err.str()}", retryable=True) from None
            if not n & 1023:  # serve delivery reports now and then, not per message; flush() serves the rest
                producer.poll(0)
        remaining = producer.flush(self.timeout)
        if remaining:
            self._discard()
            raise SinkError(f"Kafka {self.bootstrap}: {remaining} message(s) not acknowledged within {self.timeout:g}s")
        if failures:
            self._discard()
            err = failures[0]
            retryable = err.code() not in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.TOPIC_AUTHORIZATION_FAILED)
            hint = (" (the broker's message.max.bytes or the topic's max.message.bytes is smaller than a message)"
                    if err.code() == KafkaError.MSG_SIZE_TOO_LARGE else "")
            raise SinkError(f"Kafka delivery failed for {len(failures)} message(s): {err.str()}{hint}",
                            retryable=retryable)

    def _too_large(self, topic, value, err) -> str:
        limit = self.config.get("message.max.bytes", DEFAULT_MESSAGE_MAX_BYTES)
        return (f"Kafka produce to topic '{topic}': {err.str()}: a message of {len(value or b'')} bytes is larger "
                f"than the producer's message.max.bytes ({limit}); raise message.max.bytes (and the broker's and "
                "topic's limits) or leave the row's table or column out of this subscription")

    def _discard(self):
        # An idempotent producer that failed may hold a broken sequence; the retry starts from a fresh one.
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()
            producer.flush(0)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout)
            self._producer = None


SINK_CLASS = KafkaSink
