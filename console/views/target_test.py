"""The target form's "Test target": connect with the typed URI and options, close, save nothing."""
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from console.auth.redirects import wants_json
from console.domain import probes
from console.domain.errors import DomainError
from console.forms.fields import admin_groups
from console.forms.targets import TargetForm
from console.models import Target

from .generic import check_posted_group, forbid_on_refusal, get_scoped_object, refusal_status, require_group_admin


def _answer(request, form, target, test):
    try:
        outcome, error, status = test(), "", 200
    except DomainError as exc:
        forbid_on_refusal(exc)
        outcome, error, status = "", exc.message, refusal_status(exc)
    if wants_json(request):
        return JsonResponse({"ok": not error, "message": outcome or error}, status=status)
    return render(request, "console/targets/form.html", {
        "title": f"{'Edit' if target.pk else 'Add'} target", "form": form, "object": target, "list_url_name": "target_list",
        "probe_ok": outcome, "probe_error": error,
    }, status=status)


def _values(form):
    form.is_valid()  # a field error still shows next to its field; the test reads what parsed
    return form.cleaned_data.get("uri", ""), form.cleaned_data.get("options") or {}


@require_POST
def test_new_target(request):
    check_posted_group(request)
    form = TargetForm(request.POST, instance=Target(), groups=admin_groups(request.user))
    uri, options = _values(form)
    group = form.cleaned_data.get("group")
    return _answer(request, form, form.instance, lambda: probes.test_target(
        request.user, getattr(group, "pk", None), uri, options))


@require_POST
def test_saved_target(request, pk):
    target = get_scoped_object(Target, request.user, pk)
    require_group_admin(request.user, target.group_id, "test its targets")
    form = TargetForm(request.POST, instance=target)
    uri, options = _values(form)
    return _answer(request, form, target, lambda: probes.test_target(request.user, None, uri, options, target=target))
