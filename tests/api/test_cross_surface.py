"""One object, many surfaces: a change through one API shows at once through the others."""
from console.models import Subscription


def test_ccr_pause_is_ticdc_stopped_and_native_stopped(world, api):
    alice = api(world.alice.token)
    assert alice.post("/pause", {"name": "job-a"}).json() == {"success": True}
    assert alice.get("/api/v1/changefeeds/job-a").json()["state"] == "stopped"
    assert alice.get(f"/api/subscriptions/{world.job_a.pk}/").json()["state"] == "stopped"
    assert alice.get("/synclist", {"channelid": world.job_a.pk}).json()[0]["ToServerList"][0]["Status"] == "stopped"
    # resume through TiCDC: CCR says running
    assert alice.post("/api/v1/changefeeds/job-a/resume").status_code == 202
    assert alice.post("/job_status", {"name": "job-a"}).json()["state"] == "running"
    # pause through the native API: CCR says paused
    alice.post(f"/api/subscriptions/{world.job_a.pk}/pause/")
    assert alice.post("/job_status", {"name": "job-a"}).json()["state"] == "paused"


def test_changefeed_created_by_ticdc_is_a_ccr_job(world, api):
    alice = api(world.alice.token)
    assert alice.post("/api/v1/changefeeds", {"changefeed_id": "shared", "sink_uri": "blackhole://",
                                              "upstream": "10.1.0.1:3306"}).status_code == 202
    assert "shared" in alice.post("/list_jobs", {}).json()["jobs"]
    assert alice.post("/delete", {"name": "shared"}).json() == {"success": True}
    assert alice.get("/api/v1/changefeeds/shared").status_code == 404
    assert not Subscription.objects.filter(name="shared").exists()


def test_manager_offline_shows_in_bifrost_native_and_metrics(world, api):
    alice = api(world.alice.token)
    body = {"dbInfo": {"host": "10.1.0.1", "port": 3306}}
    assert alice.post("/set/offline/", body).json() == {"code": 1000, "message": ""}
    assert alice.get("/db/list").json()["10.1.0.1:3306"]["ConnStatus"] == "stop"
    assert alice.get(f"/api/instances/{world.instance_a.pk}/").json()["state"] == "OFFLINE"
    assert 'tower_instance_online{group="team-a",instance="10.1.0.1:3306"} 0.0' in alice.get("/metrics").content.decode()


def test_console_sees_api_changes(world, api):
    """The console reads the same rows: its instance page shows the state the manager API set."""
    from django.test import Client
    from django.urls import reverse

    alice = api(world.alice.token)
    alice.post("/set/offline/", {"dbInfo": {"host": "10.1.0.1", "port": 3306}})
    client = Client()
    client.force_login(world.alice)
    page = client.get(reverse("instance_detail", args=[world.instance_a.pk]))
    assert page.status_code == 200
    assert "OFFLINE" in page.content.decode()
