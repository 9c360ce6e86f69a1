"""What a user may set on a target: the allow-lists of sink options and client-library properties.

A target's URI query parameters and its options (Target.options, a subscription's options["sink"], the
kafka sink's `producer_config`) reach the sink and, through it, a client library (librdkafka, pika,
pymongo). Many of those libraries' settings reach the worker's files, commands or network on the user's
behalf (librdkafka's plugin.library.paths loads a shared library; *.location, ssl.engine.* and
sasl.kerberos.kinit.cmd name files and commands; sasl.oauthbearer.* fetch URLs; pika's ssl_options and
pymongo's tlsCAFile name files; pymongo's MONGODB-AWS asks the machine's cloud metadata for credentials).
So nothing is passed on unless it is listed here: every name not listed is refused, and some listed
names only take the listed values.

Checked when a user gives them (console.domain.catalog.clean_target, console.domain.subscriptions,
workers.changefeed.check_sink_config) and again by the engine before it builds a sink
(workers.sinks.open_sink), so a target written some other way (an older version, the admin) never reaches a
client library with an unlisted setting either. Django-free: both sides import it.
"""
from urllib.parse import parse_qsl, urlsplit

# Tower's own bookkeeping on a target (the target a TiCDC/CCR job made for itself).
COMMON_OPTIONS = frozenset({"created_for"})

# What an MQ rule or a changefeed's sink_config set on kafka and amqp sinks (workers/sinks/kafka.py), the
# kinds that read them; an MQ rule's filters apply to a subscription of any kind, its topic and keys do not.
MQ_OPTIONS = frozenset({"topic", "protocol", "order_type", "business_keys", "with_trx", "instance"})
MQ_KINDS = frozenset({"kafka", "amqp"})

# librdkafka producer properties (in a kafka URI's query, or in the `producer_config` option): tuning,
# delivery guarantees and credentials given inline. Not: plugin.library.paths, interceptors, ssl.engine.*,
# any *.location, ssl.keystore.*, sasl.kerberos.*, sasl.oauthbearer.* (token URLs, commands), debug, ...
LIBRDKAFKA = frozenset({
    "client.id", "acks", "request.required.acks", "compression.type", "compression.codec", "compression.level",
    "linger.ms", "queue.buffering.max.ms", "queue.buffering.max.messages", "queue.buffering.max.kbytes",
    "batch.num.messages", "batch.size", "message.max.bytes", "retries", "message.send.max.retries",
    "retry.backoff.ms", "retry.backoff.max.ms", "request.timeout.ms", "message.timeout.ms", "delivery.timeout.ms",
    "enable.idempotence", "enable.gapless.guarantee", "max.in.flight.requests.per.connection", "max.in.flight",
    "partitioner", "sticky.partitioning.linger.ms", "socket.timeout.ms", "socket.keepalive.enable",
    "socket.connection.setup.timeout.ms", "connections.max.idle.ms", "reconnect.backoff.ms",
    "reconnect.backoff.max.ms", "metadata.max.age.ms", "topic.metadata.refresh.interval.ms",
    "api.version.request", "broker.version.fallback",
    "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
    "ssl.ca.pem", "ssl.certificate.pem", "ssl.key.pem", "ssl.key.password",
})

# pika connection parameters in an amqp URI's query (pika.URLParameters). Not: ssl_options (file paths),
# tcp_options, client_properties.
PIKA = frozenset({"heartbeat", "connection_attempts", "retry_delay", "socket_timeout", "stack_timeout",
                  "blocked_connection_timeout", "channel_max", "frame_max", "locale"})

# pymongo URI options, lower case (pymongo reads them case-insensitively). Not: tlsCAFile,
# tlsCertificateKeyFile(Password), tlsCRLFile, tlsInsecure, tlsAllow*, authMechanismProperties, ...
PYMONGO = frozenset({
    "w", "journal", "wtimeoutms", "authsource", "authmechanism", "replicaset", "readpreference",
    "readpreferencetags", "maxstalenessseconds", "readconcernlevel", "maxpoolsize", "minpoolsize",
    "maxidletimems", "maxconnecting", "waitqueuetimeoutms", "connecttimeoutms", "sockettimeoutms",
    "serverselectiontimeoutms", "heartbeatfrequencyms", "localthresholdms", "timeoutms", "appname",
    "retrywrites", "retryreads", "compressors", "zlibcompressionlevel", "directconnection", "loadbalanced",
    "tls", "ssl", "uuidrepresentation",
})

# Listed properties that only take these values (compared in lower case).
ALLOWED_VALUES = {
    "security.protocol": {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"},
    "sasl.mechanism": {"plain", "scram-sha-256", "scram-sha-512"},
    "sasl.mechanisms": {"plain", "scram-sha-256", "scram-sha-512"},
    # MONGODB-AWS asks the machine's cloud metadata service, GSSAPI the worker's Kerberos, X509 a key file.
    "authmechanism": {"default", "scram-sha-1", "scram-sha-256", "plain"},
}

# TiCDC kafka sink-URI parameters a TiCDC client sends: accepted and ignored (Tower's producer settings come
# from librdkafka's own names). Not TiCDC's ca/cert/key (file paths) nor its sasl-gssapi-*/sasl-oauth-*.
TICDC_KAFKA_IGNORED = frozenset({
    "kafka-version", "kafka-client-id", "partition-num", "replication-factor", "max-message-bytes",
    "compression", "auto-create-topic", "dial-timeout", "read-timeout", "write-timeout", "required-acks",
    "max-batch-size", "enable-tidb-extension",
})


class Rules:
    """One sink's allow-lists: its own option names, the names its URI query may carry, and the client
    library properties the query (and, for kafka, `producer_config`) may set."""

    def __init__(self, options, query, client=frozenset(), library="", client_case_insensitive=False):
        self.options = COMMON_OPTIONS | options
        self.query = query
        self.client = client
        self.library = library
        self.case_insensitive = client_case_insensitive

    def client_name(self, name):
        """The client property `name` stands for (for lookups), or None when it is not one of the listed."""
        key = name.lower() if self.case_insensitive else name
        return key if key in self.client else None


_KAFKA_OWN = MQ_OPTIONS | {"table_order", "timeout", "producer_config"}
_AMQP_OWN = frozenset({"exchange", "exchange_type", "queue", "bind", "mandatory", "declare", "confirm_timeout"})
_AMQP_QUERY = _AMQP_OWN | {"topic", "protocol", "order_type", "with_trx"}  # workers/sinks/amqp.py _OWN_PARAMS
_MONGO_OWN = frozenset({"collection", "batch_size", "ddl"})
_REDIS_OWN = frozenset({"key", "mode", "ttl"})
_CLICKHOUSE_OWN = frozenset({"table", "create", "ddl", "batch_size", "flush_interval"})

SINKS = {
    "kafka": Rules(_KAFKA_OWN, (_KAFKA_OWN - {"table_order", "producer_config"}) | TICDC_KAFKA_IGNORED,
                   LIBRDKAFKA, "librdkafka"),
    "amqp": Rules(MQ_OPTIONS | _AMQP_OWN, _AMQP_QUERY, PIKA, "pika"),
    "mongodb": Rules(_MONGO_OWN, _MONGO_OWN, PYMONGO, "pymongo", client_case_insensitive=True),
    "redis": Rules(_REDIS_OWN, _REDIS_OWN),
    # `source`: a mysql:// URL to read the source table's columns from, instead of the subscription's instance.
    "clickhouse": Rules(_CLICKHOUSE_OWN | {"source"}, _CLICKHOUSE_OWN),
    "blackhole": Rules(frozenset(), frozenset()),
}


def _client_value_problem(prop, name, value, where):
    if not isinstance(value, (str, int, float, bool)):
        return f"{where} '{name}' must be a string, number or boolean"
    allowed = ALLOWED_VALUES.get(prop)
    if allowed is not None and str(value).strip().lower() not in allowed:
        return f"{where} '{name}' cannot be '{value}' (allowed: {', '.join(sorted(allowed))})"
    return None


def _listed(names):
    return ", ".join(sorted(names)) or "none"


def check_options(kind, options) -> list:
    """The problems of a target's options for a sink of `kind` (a URI scheme), [] when none."""
    rules = SINKS.get(kind)
    if rules is None:
        return [f"unsupported sink kind '{kind}'"]
    if not options:
        return []
    if not isinstance(options, dict):
        return ["options must be an object"]
    problems = []
    for name, value in options.items():
        if name not in rules.options:
            problems.append(f"option '{name}' is not allowed for a {kind} target "
                            f"(allowed: {_listed(rules.options)})")
        elif name == "producer_config":
            problems += _check_producer_config(value)
        elif name == "source" and not (isinstance(value, str) and urlsplit(value).scheme.lower() == "mysql"):
            problems.append("option 'source' must be a mysql:// URL")
    return problems


def _check_producer_config(config) -> list:
    if not isinstance(config, dict):
        return ["option 'producer_config' must be an object of librdkafka properties"]
    problems = []
    for name, value in config.items():
        if name not in LIBRDKAFKA:
            problems.append(f"librdkafka property '{name}' is not allowed in producer_config "
                            "(not on Tower's list of harmless librdkafka properties)")
            continue
        problem = _client_value_problem(name, name, value, "librdkafka property")
        if problem:
            problems.append(problem)
    return problems


def check_uri(uri) -> list:
    """The problems of a target URI's query parameters, [] when none (an unknown scheme is not judged here)."""
    parts = urlsplit(uri or "")
    kind = parts.scheme.lower()
    rules = SINKS.get(kind)
    if rules is None:
        return []
    problems = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in rules.query:
            continue
        prop = rules.client_name(name)
        if prop is None:
            also = f", or one of Tower's listed {rules.library} properties" if rules.library else ""
            problems.append(f"URI parameter '{name}' is not allowed for a {kind} target "
                            f"(allowed: {_listed(rules.query)}{also})")
            continue
        problem = _client_value_problem(prop, name, value, "URI parameter")
        if problem:
            problems.append(problem)
    return problems


def check_target(uri, options) -> list:
    """check_uri and check_options together, for a target (or a job's sink) of URI `uri`."""
    return check_uri(uri) + check_options(urlsplit(uri or "").scheme.lower(), options)


def client_properties(uri) -> dict:
    """The client-library properties in a URI's query (already checked), by name as given."""
    parts = urlsplit(uri or "")
    rules = SINKS.get(parts.scheme.lower())
    if rules is None:
        return {}
    return {k: v for k, v in parse_qsl(parts.query) if k not in rules.query and rules.client_name(k)}
