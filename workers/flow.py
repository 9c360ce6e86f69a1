"""Retention of the cumulative FlowSample rows the dump loop writes (the read is console.domain.progress)."""
from datetime import timedelta

from django.utils import timezone

from console.models import FlowSample

KEEP = timedelta(days=1, hours=1)  # the longest flow window (a day) and a margin


def prune(now=None) -> int:
    """Drop samples older than the longest window."""
    now = now or timezone.now()
    return FlowSample.objects.filter(time__lt=now - KEEP).delete()[0]
