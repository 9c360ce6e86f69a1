"""CSV exports carry plain values: the tables' HTML (progress bars, badges, error markers) stays on the page."""
from datetime import timedelta

from django.utils import timezone

from console.choices import InstanceStatus
from console.domain.subscriptions import create_subscription
from console.models import Subscription

from console_helpers import make_instance


def test_the_subscriptions_export_has_no_markup(clients, world):
    instance = make_instance(world["alpha"], host="10.7.0.1", port=3306, status=InstanceStatus.DUMP)
    job = create_subscription(world["users"]["adam"], name="copying", instance=instance, sink_uri="blackhole://",
                              tables="shop.*", full_sync=True)
    Subscription.objects.filter(pk=job.pk).update(fullsync_total=300, fullsync_done=120,
                                                  fullsync_started=timezone.now() - timedelta(seconds=60))
    page = clients["adam"].get("/subscriptions/").content.decode()
    assert 'role="progressbar"' in page  # the page still draws the bar
    csv = clients["adam"].get("/subscriptions/?export=csv").content.decode()
    assert "<" not in csv
    assert "120/300 (40%)" in csv


def test_the_instance_and_workflow_exports_have_no_badges(clients, world):
    make_instance(world["alpha"], host="10.7.0.2", port=3306, status=InstanceStatus.WAIT)
    for path in ("/instances/?export=csv", "/workflow/?export=csv"):
        csv = clients["adam"].get(path).content.decode()
        assert "<" not in csv, path
        assert ",wait," in csv, path
