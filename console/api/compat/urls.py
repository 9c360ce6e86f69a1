"""The compatibility surfaces at the site root (docs/compatibility.md), one module each.

Every path answers with and without its trailing slash: the callers are scripts and other systems that
spell paths either way, and Django's APPEND_SLASH redirect would turn their POST into a GET.
"""
from django.urls import re_path

from console.api.compat import bifrost, ccr, manager, metrics


def route(path, view, name=None):
    """`path` with or without a trailing slash."""
    return re_path(rf"^{path}/?$", view, name=name)


manager_urls = [
    route("create/znodes", manager.create_znodes, name="manager-create-znodes"),
    route("set/binlog", manager.set_binlog, name="manager-set-binlog"),
    route("set/online", manager.set_online, name="manager-set-online"),
    route("set/offline", manager.set_offline, name="manager-set-offline"),
    route("set/leader", manager.set_leader, name="manager-set-leader"),
    route("set/candidate", manager.set_candidate, name="manager-set-candidate"),
    route("reset/counter", manager.reset_counter, name="manager-reset-counter"),
    route("remove/node", manager.remove_node, name="manager-remove-node"),
    route("exist/node", manager.exist_node, name="manager-exist-node"),
    route("master/status", manager.master_status, name="manager-master-status"),
    route("slave/status", manager.slave_status, name="manager-slave-status"),
]

bifrost_urls = [
    route("db/list", bifrost.db_list, name="bifrost-db-list"),
    route("synclist", bifrost.synclist, name="bifrost-synclist"),
    route("flow/get", bifrost.flow_get, name="bifrost-flow-get"),
    route("table/toserver/deal", bifrost.toserver_deal, name="bifrost-toserver-deal"),
]

ccr_urls = [
    route(op, getattr(ccr, view), name=f"ccr-{op}")
    for op, view in (
        ("version", "version"), ("create_ccr", "create_ccr"), ("get_lag", "get_lag"), ("pause", "pause"),
        ("resume", "resume"), ("delete", "delete"), ("list_jobs", "list_jobs"), ("job_detail", "job_detail"),
        ("job_progress", "job_progress"), ("job_status", "job_status"),
        ("update_host_mapping", "update_host_mapping"),
        ("add_host_mapping", "update_host_mapping"),  # the ccr-syncer README's own example posts here
        ("job_skip_binlog", "job_skip_binlog"), ("force_fullsync", "force_fullsync"),
    )
]

urlpatterns = manager_urls + bifrost_urls + ccr_urls + [
    route("metrics", metrics.metrics, name="metrics"),
]
