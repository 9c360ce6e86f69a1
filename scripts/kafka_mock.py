"""Hold librdkafka's mock Kafka cluster open and publish its bootstrap address to a file.

The mock cluster lives inside a producer instance; it answers the real Kafka
protocol over TCP for as long as this process keeps polling it.
"""
import signal
import sys

from confluent_kafka import Producer


def main(address_file):
    producer = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    brokers = producer.list_topics(timeout=10).brokers
    broker = next(iter(brokers.values()))
    with open(address_file + ".tmp", "w") as f:
        f.write(f"{broker.host}:{broker.port}\n")
    import os

    os.replace(address_file + ".tmp", address_file)
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        producer.poll(0.5)


if __name__ == "__main__":
    main(sys.argv[1])
