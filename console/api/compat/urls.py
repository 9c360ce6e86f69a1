"""The compatibility surfaces at the site root (DESIGN.md section 8), one module each."""
from django.urls import path

from console.api.compat import bifrost, ccr, manager, metrics

manager_urls = [
    path("create/znodes/", manager.create_znodes, name="manager-create-znodes"),
    path("set/binlog/", manager.set_binlog, name="manager-set-binlog"),
    path("set/online/", manager.set_online, name="manager-set-online"),
    path("set/offline/", manager.set_offline, name="manager-set-offline"),
    path("set/leader/", manager.set_leader, name="manager-set-leader"),
    path("set/candidate/", manager.set_candidate, name="manager-set-candidate"),
    path("reset/counter/", manager.reset_counter, name="manager-reset-counter"),
    path("remove/node/", manager.remove_node, name="manager-remove-node"),
    path("exist/node/", manager.exist_node, name="manager-exist-node"),
    # BinLake's table lists these two without a trailing slash; take both spellings.
    path("master/status", manager.master_status, name="manager-master-status"),
    path("master/status/", manager.master_status),
    path("slave/status", manager.slave_status, name="manager-slave-status"),
    path("slave/status/", manager.slave_status),
]

bifrost_urls = [
    path("db/list", bifrost.db_list, name="bifrost-db-list"),
    path("synclist", bifrost.synclist, name="bifrost-synclist"),
    path("flow/get", bifrost.flow_get, name="bifrost-flow-get"),
    path("table/toserver/deal", bifrost.toserver_deal, name="bifrost-toserver-deal"),
]

ccr_urls = [
    path(op, getattr(ccr, view), name=f"ccr-{op}")
    for op, view in (
        ("version", "version"), ("create_ccr", "create_ccr"), ("get_lag", "get_lag"), ("pause", "pause"),
        ("resume", "resume"), ("delete", "delete"), ("list_jobs", "list_jobs"), ("job_detail", "job_detail"),
        ("job_progress", "job_progress"), ("job_status", "job_status"),
        ("update_host_mapping", "update_host_mapping"),
        ("add_host_mapping", "update_host_mapping"),  # the reference's own example posts here
        ("job_skip_binlog", "job_skip_binlog"), ("force_fullsync", "force_fullsync"),
    )
]

urlpatterns = manager_urls + bifrost_urls + ccr_urls + [
    path("metrics", metrics.metrics, name="metrics"),
]
