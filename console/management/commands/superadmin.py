"""Super admins are managed only here and in Django admin: `manage.py superadmin add|remove|list [ERP]`."""
from django.core.management.base import BaseCommand, CommandError

from console.models import AuditLog, SuperAdmin


class Command(BaseCommand):
    help = "Add, remove or list Tower super admins (by erp / username)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["add", "remove", "list"])
        parser.add_argument("erp", nargs="?")

    def handle(self, action, erp=None, **options):
        if action == "list":
            for admin in SuperAdmin.objects.all():
                self.stdout.write(admin.erp)
            return
        if not erp:
            raise CommandError(f"superadmin {action} needs an ERP (username)")
        if action == "add":
            _, created = SuperAdmin.objects.get_or_create(erp=erp)
            if created:
                AuditLog.record("manage.py", "superadmin_add", message=erp)
            self.stdout.write(f"{erp} is a super admin" + ("" if created else " (already)"))
        else:
            deleted, _ = SuperAdmin.objects.filter(erp=erp).delete()
            if not deleted:
                raise CommandError(f"{erp} is not a super admin")
            AuditLog.record("manage.py", "superadmin_remove", message=erp)
            self.stdout.write(f"{erp} is no longer a super admin")
