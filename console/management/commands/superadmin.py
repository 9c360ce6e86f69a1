"""Super admins are managed only here and in Django admin: `manage.py superadmin add|remove|list [ERP]`."""
from django.core.management.base import BaseCommand, CommandError

from console.domain import config
from console.domain.errors import DomainError
from console.models import SuperAdmin

# Whoever runs manage.py on the server is trusted: the audit names them by this.
SHELL = "manage.py"


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
        try:
            if action == "add":
                created = config.add_super_admin(SHELL, erp)
                self.stdout.write(f"{erp} is a super admin" + ("" if created else " (already)"))
            else:
                config.remove_super_admin(SHELL, erp)
                self.stdout.write(f"{erp} is no longer a super admin")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
