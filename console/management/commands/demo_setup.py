"""Prepare the demo: an admin login, a `demo` group, the local MariaDB as a dumping source, a Redis target.

Idempotent: running it again keeps what is there and prints the same login.
"""
import os
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from console.choices import DumpState, InstanceStatus, MemberRole
from console.models import AuditLog, Config, Group, Instance, Member, Subscription, SuperAdmin, Target
from workers import source

DEMO_SCHEMA = "tower_demo"


class Command(BaseCommand):
    help = "Create the demo admin, group, source instance, target and subscription."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("TOWER_PORT") or 8000),
                            help="the port the console is served on, for the URL printed (default: TOWER_PORT, 8000)")

    def handle(self, **options):
        source_url = os.environ.get("TOWER_SOURCE_URL")
        redis_url = os.environ.get("TOWER_REDIS_URL")
        if not source_url or not redis_url:
            raise CommandError("TOWER_SOURCE_URL and TOWER_REDIS_URL must be set (run `make services`)")
        src = urlsplit(source_url)
        password_file = settings.DATA_DIR / "demo-admin-password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()

        conn = source.connect(src.hostname, src.port, src.username or "root", src.password or "")
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DEMO_SCHEMA}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {DEMO_SCHEMA}.orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, "
                "customer VARCHAR(64) NOT NULL, amount DECIMAL(12,2) NOT NULL, status ENUM('new','paid','shipped') "
                "NOT NULL DEFAULT 'new', created_at DATETIME(6) NOT NULL, note JSON NULL)"
            )
        position = source.master_status(conn)
        conn.close()

        with transaction.atomic():
            admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
            admin.is_staff = admin.is_superuser = True
            admin.set_password(password)
            admin.save()
            SuperAdmin.objects.get_or_create(erp="admin")
            group, _ = Group.objects.get_or_create(name="demo", defaults={"mark": "created by make demo"})
            Member.objects.get_or_create(erp="admin", group=group, defaults={"role": MemberRole.CREATOR})
            config = Config.current()
            config.dump_user, config.dump_password = src.username or "root", src.password or ""
            config.save()
            instance = Instance.objects.filter(host=src.hostname, port=src.port).first()
            if instance is None:
                instance = Instance.objects.create(
                    group=group, host=src.hostname, port=src.port, user=src.username or "root",
                    password=src.password or "", slave_id=config.slave_id + 1, status=InstanceStatus.DUMP,
                    state=DumpState.ONLINE, binlog_file=position["file"], binlog_pos=position["pos"],
                    candidates=[settings.WORKER_NAME],
                )
                AuditLog.record("make demo", "demo_register", instance, after={"status": "dump"})
            # The servers get new ports when they are started again: the demo's target and subscription follow
            # them, and an earlier demo source is taken offline instead of failing to dump forever.
            target, _ = Target.objects.update_or_create(
                group=group, name="demo-redis",
                defaults={"uri": f"{redis_url.rsplit('/', 1)[0]}/1?key={{$SchemaName}}-{{$TableName}}-{{$id}}"},
            )
            Subscription.objects.update_or_create(
                name="demo-orders-to-redis",
                defaults={"group": group, "instance": instance, "target": target, "tables": f"{DEMO_SCHEMA}.*"},
                create_defaults={"group": group, "instance": instance, "target": target,
                                 "tables": f"{DEMO_SCHEMA}.*", "created_by": "admin"},
            )
            Instance.objects.filter(group=group).exclude(pk=instance.pk).update(state=DumpState.OFFLINE)
        self.stdout.write(self.style.SUCCESS(
            f"Tower demo: open http://127.0.0.1:{options['port']}/ and log in as  admin / {password}"
        ))
