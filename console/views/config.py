"""/config/: global settings, super admins only; secrets are write-only."""
from django.contrib import messages
from django.shortcuts import redirect, render

from console.domain.config import require_super, update_config
from console.domain.errors import DomainError
from console.forms.config import ConfigForm
from console.models import Config, Wave

from .generic import forbid_on_refusal


def config_view(request):
    try:
        require_super(request.user)
    except DomainError as exc:
        forbid_on_refusal(exc)
    config = Config.current()
    form = ConfigForm(request.POST or None, instance=config)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                update_config(request.user, config, **form.values())
            except DomainError as exc:
                forbid_on_refusal(exc)
                form.add_domain_error(exc)
            else:
                messages.success(request, "Configuration saved.")
                return redirect("config")
        status = 400
    return render(request, "console/config.html", {"form": form, "workers": Wave.objects.all()}, status=status)
