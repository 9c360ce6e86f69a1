"""The global configuration (Config rows, `default` in use) and who the super admins are.

The configuration: super admins only, audited as `config_update`. Super admins themselves are named from the
server's shell (`manage.py superadmin`, a system caller) or by another super admin: `superadmin_add`,
`superadmin_remove`.

Secrets (the approval system's token, the callback HMAC secret, the dump password, the manager token) are
write-only on every surface: given values replace the stored ones and the audit record keeps them masked.
"""
from django.core.exceptions import ValidationError
from django.db import transaction

from console.domain.audit import record_change, snapshot
from console.domain.caller import as_caller
from console.domain.errors import DomainError
from console.models import Config, SuperAdmin

SECRET_FIELDS = ("dbs_token", "callback_secret", "dump_password", "manager_token")


def config_fields() -> tuple:
    return tuple(f.name for f in Config._meta.concrete_fields if f.editable and f.name != "keyword")


def require_super(caller):
    if not as_caller(caller).is_super:
        raise DomainError("forbidden", "Only super admins may see or change the global configuration.")


def update_config(caller, config=None, **changes) -> Config:
    """Set the given fields of `config` (the default row when None); the others keep their values."""
    caller = as_caller(caller)
    require_super(caller)
    unknown = set(changes) - set(config_fields())
    if unknown:
        raise TypeError(f"the configuration has no field(s) {', '.join(sorted(unknown))}")
    config = config or Config.current()
    before = snapshot(config)
    for name, value in changes.items():
        if isinstance(value, str) and name not in SECRET_FIELDS:
            value = value.strip()
        setattr(config, name, value)
    try:
        config.full_clean(exclude=["keyword"], validate_unique=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        config.refresh_from_db()
        raise DomainError("invalid", f"{field}: {messages[0]}", field) from None
    with transaction.atomic():
        config.save()
        record_change(caller.actor, "config_update", config, before=before)
    return config


def add_super_admin(caller, erp) -> bool:
    """Make `erp` (a username) a super admin; False if they already were."""
    caller = as_caller(caller)
    require_super(caller)
    erp = (erp or "").strip()
    if not erp:
        raise DomainError("invalid", "name the user (erp) to make a super admin", "erp")
    with transaction.atomic():
        admin, created = SuperAdmin.objects.get_or_create(erp=erp)
        if created:
            record_change(caller.actor, "superadmin_add", admin, after={"erp": erp})
    return created


def remove_super_admin(caller, erp):
    caller = as_caller(caller)
    require_super(caller)
    admin = SuperAdmin.objects.filter(erp=erp).first()
    if admin is None:
        raise DomainError("not_found", f"{erp} is not a super admin")
    with transaction.atomic():
        record_change(caller.actor, "superadmin_remove", admin, before={"erp": erp})
        admin.delete()
