import pytest
from django.core.management import CommandError, call_command

from console.models import AuditLog, SuperAdmin

pytestmark = pytest.mark.django_db


def test_superadmin_add_list_remove(capsys):
    call_command("superadmin", "add", "alice")
    call_command("superadmin", "add", "alice")
    assert list(SuperAdmin.objects.values_list("erp", flat=True)) == ["alice"]
    call_command("superadmin", "list")
    assert "alice" in capsys.readouterr().out
    call_command("superadmin", "remove", "alice")
    assert not SuperAdmin.objects.exists()
    assert list(AuditLog.objects.values_list("action", flat=True)) == ["superadmin_remove", "superadmin_add"]
    with pytest.raises(CommandError, match="not a super admin"):
        call_command("superadmin", "remove", "alice")
