"""Reading back what the MQ targets sent, and replaying it into a table state."""
import json

import pika


def apply_canal(messages, pk=("id",)):
    """{key tuple: row} after applying canal-json messages in order (deduplicated by file/pos/seq/type)."""
    state, seen = {}, set()
    for m in messages:
        if m.get("isDdl") or m["type"] in ("BEGIN", "COMMIT"):
            continue
        ident = (m["logfileName"], m["logfileOffset"], m["seq"], m["type"])
        if ident in seen:
            continue
        seen.add(ident)
        row = m["data"][0]
        key = tuple(row[c] for c in pk)
        if m["type"] == "DELETE":
            state.pop(key, None)
        else:
            if m["type"] == "UPDATE":
                old = {**row, **m["old"][0]}
                state.pop(tuple(old[c] for c in pk), None)
            state[key] = row
    return state


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
