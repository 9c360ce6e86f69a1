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

from console.choices import DumpState, InstanceStatus
from console.domain import catalog, config, instances, subscriptions
from console.domain.errors import DomainError
from console.models import Group, Instance, Subscription, Target
from workers import source

DEMO_SCHEMA = "tower_demo"


# Whoever runs the demo on the server is trusted like the manage.py shell; the audit names them so.
DEMO = "make demo"


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
        conn.close()

        with transaction.atomic():
            admin, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
            admin.is_staff = admin.is_superuser = True
            admin.set_password(password)
            admin.save()
            try:
                self.set_up(admin, src, redis_url)
            except DomainError as exc:
                raise CommandError(f"the demo could not be set up: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Tower demo: open http://127.0.0.1:{options['port']}/ and log in as  admin / {password}"
        ))

    def set_up(self, admin, src, redis_url):
        """The demo through the product's own operations, as an admin and the DBA would do it by hand."""
        config.add_super_admin(DEMO, "admin")
        group = Group.objects.filter(name="demo").first() or catalog.create_group(
            admin, "demo", mark="created by make demo")
        config.update_config(DEMO, dump_user=src.username or "root", dump_password=src.password or "")
        instance = Instance.objects.filter(host=src.hostname, port=src.port).first()
        if instance is None:
            instance = self.register(admin, group, src)
        # The servers get new ports when they are started again: the demo's target and subscription follow
        # them, and an earlier demo source is taken offline instead of failing to dump forever.
        uri = f"{redis_url.rsplit('/', 1)[0]}/1?key={{$SchemaName}}-{{$TableName}}-{{$id}}"
        target = Target.objects.filter(group=group, name="demo-redis").first()
        if target is None:
            target = catalog.create_target(admin, group, name="demo-redis", uri=uri)
        elif target.uri != uri:
            target = catalog.update_target(admin, target, uri=uri)
        sub = Subscription.objects.filter(name="demo-orders-to-redis").first()
        if sub is not None and sub.instance_id != instance.pk:
            subscriptions.delete_subscription(admin, sub)
            sub = None
        if sub is None:
            subscriptions.create_subscription(admin, name="demo-orders-to-redis", instance=instance, target=target,
                                              tables=f"{DEMO_SCHEMA}.*")
        for old in Instance.objects.filter(group=group, status=InstanceStatus.DUMP, state=DumpState.ONLINE
                                           ).exclude(pk=instance.pk):
            instances.set_offline(admin, old)

    def register(self, admin, group, src):
        """Register the local MariaDB and take it through the approval workflow, the grant checks included."""
        instance = instances.register_instance(admin, group, src.hostname, src.port, src.username or "root",
                                               src.password or "")
        instances.apply_instance(admin, instance)
        instances.decide(DEMO, instance, True, "approved by make demo")
        report = instances.run_grant(admin, instance)
        if not report.ok:
            raise CommandError("the demo source fails the grant checks: "
                               + "; ".join(c.reason for c in report.failures()))
        instances.start_dump(admin, instance)
        return instance
