"""Reading back what the MQ targets sent, and replaying it into a table state."""
import json

import pika

from canal import apply_canal  # noqa: F401  (re-exported to this package's tests)


def loads(values):
    return [json.loads(v) for v in values]


def amqp_uri(amqp_url, **params):
    return f"{amqp_url}?" + "&".join(f"{k}={v}" for k, v in params.items())


def drain(amqp_url, queue):
    """Every message waiting in a queue: [(routing key, properties, body as JSON)]; the queue is deleted."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = conn.channel()
        out = []
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((method.routing_key, props, json.loads(body)))
    finally:
        try:
            conn.channel().queue_delete(queue)
        except Exception:
            pass
        conn.close()
