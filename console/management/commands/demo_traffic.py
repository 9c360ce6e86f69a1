"""Keep writing orders into the demo source so the console shows data flowing (Ctrl-C stops it)."""
import json
import os
import random
import time
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand

from workers import source

from .demo_setup import DEMO_SCHEMA


class Command(BaseCommand):
    help = "Insert, update and delete demo orders a few times a second."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5)
        parser.add_argument("--count", type=int, default=0, help="stop after this many transactions (0 = never)")

    def handle(self, interval, count, **options):
        src = urlsplit(os.environ["TOWER_SOURCE_URL"])
        conn = source.connect(src.hostname, src.port, src.username or "root", src.password or "")
        done = 0
        customers = ["ada", "grace", "linus", "ken", "barbara", "edsger"]
        with conn.cursor() as cur:
            while not count or done < count:
                cur.execute("BEGIN")
                cur.execute(
                    f"INSERT INTO {DEMO_SCHEMA}.orders (customer, amount, created_at, note) VALUES (%s, %s, NOW(6), %s)",
                    (random.choice(customers), f"{random.randint(100, 99999) / 100:.2f}",
                     json.dumps({"channel": random.choice(["web", "app", "shop"])})),
                )
                cur.execute(f"UPDATE {DEMO_SCHEMA}.orders SET status = 'paid' WHERE status = 'new' ORDER BY id LIMIT 1")
                if random.random() < 0.2:
                    cur.execute(f"DELETE FROM {DEMO_SCHEMA}.orders WHERE status = 'paid' ORDER BY id LIMIT 1")
                cur.execute("COMMIT")
                done += 1
                time.sleep(interval)
