"""/config/: global settings, super admins only; secrets are write-only."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render

from console.forms.config import ConfigForm
from console.models import Config, Wave
from console.permissions import is_super_admin
from console.domain.audit import record_change, snapshot


def config_view(request):
    if not is_super_admin(request.user):
        raise PermissionDenied("Only super admins may see or change the global configuration.")
    config = Config.current()
    form = ConfigForm(request.POST or None, instance=config)
    status = 200
    if request.method == "POST":
        before = snapshot(config)
        if form.is_valid():
            with transaction.atomic():
                form.save()
                record_change(request.user, "config_update", config, before=before)
            messages.success(request, "Configuration saved.")
            return redirect("config")
        status = 400
    return render(request, "console/config.html", {"form": form, "workers": Wave.objects.all()}, status=status)
