"""Sign-in accounts: inviting a member (an SSO identity, or a local account with a one-time set-password link)
and the super admins' account management (list, deactivate, reactivate, new set-password link).

A set-password link is Django's password reset token (django.contrib.auth.tokens): it expires after
settings.PASSWORD_RESET_TIMEOUT and is single use, because the token hashes the stored password, which setting
one changes. The token is a credential: it goes to the admin's page (and the invitee), never to the audit log.

Audit actions:

    member_invite         invite_member (besides add_member's member_add): the account created or pointed to
    account_deactivate    set_account_active(False)
    account_reactivate    set_account_active(True)
    account_password_link issue_password_link
"""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from console.choices import MemberRole
from console.domain.audit import record
from console.domain.caller import as_caller
from console.domain.catalog import add_member
from console.domain.errors import DomainError


def sso_signs_in() -> bool:
    """Whether members sign in through single sign-on (OIDC or BinLake-style ticket SSO): their identity comes
    from it by username, so an invitation has nothing to create."""
    oidc = bool(getattr(settings, "OIDC_RP_CLIENT_ID", "") and getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", ""))
    return oidc or bool(getattr(settings, "TOWER_SSO_VERIFY_URL", ""))


def password_link_path(user) -> str:
    """The path of a one-time set-password link for `user` (valid PASSWORD_RESET_TIMEOUT seconds)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password_set", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


def invite_member(caller, group, erp, email="", role=MemberRole.USER, org_name=""):
    """Add `erp` to `group` and make sure they can sign in: (member, set-password link path or None).

    With SSO the member signs in through it (None). Otherwise the local account is created when missing (with
    an unusable password) and a link is returned while the account has no password yet; an account that
    already has one is only pointed to (a group admin never resets someone else's password)."""
    caller = as_caller(caller)
    with transaction.atomic():
        member = add_member(caller, group, erp, role=role, email=email, org_name=org_name)
        if sso_signs_in():
            record(caller.actor, "member_invite", member, message=f"{member.erp} signs in through single sign-on")
            return member, None
        users = get_user_model()
        user = users.objects.filter(username=member.erp).first()
        created = user is None
        if created:
            user = users(username=member.erp, email=member.email)
            user.set_unusable_password()
            user.save()
        link = None if user.has_usable_password() else password_link_path(user)
        outcome = ("local account created" if created else "existing local account") + (
            ", set-password link issued" if link else ", already has a password")
        record(caller.actor, "member_invite", member, message=f"{member.erp}: {outcome}")
    return member, link


def _require_super(caller):
    if not caller.is_super:
        raise DomainError("forbidden", "Only a super admin manages sign-in accounts.")


def list_accounts(caller):
    caller = as_caller(caller)
    _require_super(caller)
    return get_user_model().objects.order_by("username")


def get_account(caller, pk):
    caller = as_caller(caller)
    _require_super(caller)
    user = get_user_model().objects.filter(pk=pk).first()
    if user is None:
        raise DomainError("not_found", "No such account.")
    return user


def set_account_active(caller, user, active: bool):
    """Deactivate (the account can no longer sign in; its memberships stay) or reactivate an account."""
    caller = as_caller(caller)
    _require_super(caller)
    if not active and caller.user is not None and caller.user.pk == user.pk:
        raise DomainError("invalid", "You cannot deactivate your own account.")
    if user.is_active == active:
        return user
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(caller.actor, "account_reactivate" if active else "account_deactivate", user,
               before={"is_active": not active}, after={"is_active": active})
    return user


def issue_password_link(caller, user) -> str:
    """A new one-time set-password link for an active account (its current password stays until it is used)."""
    caller = as_caller(caller)
    _require_super(caller)
    if not user.is_active:
        raise DomainError("state", f"{user.username} is deactivated: reactivate the account first.")
    with transaction.atomic():
        record(caller.actor, "account_password_link", user, message=f"set-password link issued for {user.username}")
    return password_link_path(user)
