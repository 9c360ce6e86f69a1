"""Operations on a dumping instance: online/offline, set binlog position, leader, candidates, reset counter.

Each calls one operation of console.domain.instances, which checks the caller is a group admin, refuses
unless the instance is in `dump`, and writes the audit log.
"""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.forms.operations import SetBinlogForm, SetCandidatesForm, SetLeaderForm
from console.domain import instances as domain, schema_history
from console.models import Instance, Wave
from console.permissions import can_admin_group
from console.domain.errors import DomainError
from console.domain.sources import binary_log_names

from .generic import forbid_on_refusal, get_scoped_object, refusal_status, require_group_admin


def _worker_names(instance):
    names = list(Wave.objects.values_list("name", flat=True))
    return names + [c for c in [*instance.candidates, instance.leader] if c and c not in names]


def _binlog_files(instance):
    try:
        return binary_log_names(instance), ""
    except DomainError as exc:
        return [], exc.message


def operations_page(request, pk, binlog_form=None, leader_form=None, candidates_form=None, status=200):
    instance = get_scoped_object(Instance, request.user, pk, queryset=Instance.objects.select_related("group"))
    workers = _worker_names(instance)
    files, source_error = _binlog_files(instance) if binlog_form is None else (None, "")
    return render(request, "console/instances/operations.html", {
        "instance": instance, "is_admin": can_admin_group(request.user, instance.group_id),
        "source_error": source_error,
        "binlog_form": binlog_form or SetBinlogForm(files=files or (), initial={"binlog_file": instance.binlog_file, "binlog_pos": instance.binlog_pos or 4}),
        "leader_form": leader_form or SetLeaderForm(workers=workers, initial={"leader": instance.leader}),
        "candidates_form": candidates_form or SetCandidatesForm(workers=workers, initial={"candidates": instance.candidates}),
        "refused_tables": schema_history.refused_tables(instance),
    }, status=status)


def _run(request, instance, action, *args, module=domain):
    try:
        getattr(module, action)(request.user, instance, *args)
    except DomainError as exc:
        forbid_on_refusal(exc)
        messages.error(request, exc.message)
        return operations_page(request, instance.pk, status=refusal_status(exc))
    messages.success(request, f"{action.replace('_', ' ')} done on {instance}.")
    return redirect("instance_operations", pk=instance.pk)


def _admin_instance(request, pk):
    instance = get_scoped_object(Instance, request.user, pk)
    require_group_admin(request.user, instance.group_id, "operate its instances")
    return instance


@require_POST
def set_online(request, pk):
    return _run(request, _admin_instance(request, pk), "set_online")


@require_POST
def set_offline(request, pk):
    return _run(request, _admin_instance(request, pk), "set_offline")


@require_POST
def reset_counter(request, pk):
    return _run(request, _admin_instance(request, pk), "reset_counter")


@require_POST
def set_binlog(request, pk):
    instance = _admin_instance(request, pk)
    files, source_error = _binlog_files(instance)
    form = SetBinlogForm(request.POST, files=files)
    if source_error and not request.POST.get("gtid_set"):
        form.add_error(None, f"Cannot list the binlog files: {source_error}")
    if not form.is_valid():
        return operations_page(request, pk, binlog_form=form, status=400)
    data = form.cleaned_data
    return _run(request, instance, "set_position", data["binlog_file"], data["binlog_pos"] or 4, data["gtid_set"])


def _set_workers(request, pk, form_class, field):
    """Leader and candidates are both a choice among the known workers: an invalid one is shown back as <field>_form."""
    instance = _admin_instance(request, pk)
    form = form_class(request.POST, workers=_worker_names(instance))
    if not form.is_valid():
        return operations_page(request, pk, status=400, **{f"{field}_form": form})
    return _run(request, instance, f"set_{field}", form.cleaned_data[field])


@require_POST
def set_leader(request, pk):
    return _set_workers(request, pk, SetLeaderForm, "leader")


@require_POST
def set_candidates(request, pk):
    return _set_workers(request, pk, SetCandidatesForm, "candidates")


@require_POST
def resnapshot_table(request, pk):
    instance = _admin_instance(request, pk)
    return _run(request, instance, "resnapshot_table", request.POST.get("schema", ""), request.POST.get("table", ""),
                module=schema_history)
