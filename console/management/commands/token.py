"""API tokens for scripts: `manage.py token create|list|revoke USERNAME`.

A token is shown once, when it is created: the database keeps only its digest (knox). Use it as
`Authorization: Token <key>` on every machine surface.
"""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings


class Command(BaseCommand):
    help = "Create, list or revoke a user's API tokens (Authorization: Token <key>)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list", "revoke"])
        parser.add_argument("username")
        parser.add_argument("--ttl-hours", type=int, default=None,
                            help="create: lifetime in hours (default TOWER_TOKEN_TTL_HOURS; 0: never expires)")
        parser.add_argument("--prefix", default=None,
                            help="revoke: only the token whose key starts with this (as `list` shows); "
                                 "without it, all of the user's tokens")

    def handle(self, action, username, ttl_hours=None, prefix=None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if action == "create":
            if ttl_hours is not None and ttl_hours < 0:
                raise CommandError("--ttl-hours must be 0 (never expires) or more")
            if ttl_hours is None:
                ttl = knox_settings.TOKEN_TTL
            else:
                ttl = timedelta(hours=ttl_hours) if ttl_hours else None
            token, key = AuthToken.objects.create(user=user, expiry=ttl)
            expires = token.expiry.isoformat() if token.expiry else "never"
            self.stderr.write(f"token for {username}, expires {expires}; it is not shown again")
            self.stdout.write(key)
        elif action == "list":
            for token in AuthToken.objects.filter(user=user).order_by("created"):
                expires = token.expiry.isoformat() if token.expiry else "never"
                self.stdout.write(f"{token.token_key}  created {token.created.isoformat()}  expires {expires}")
        else:
            tokens = AuthToken.objects.filter(user=user)
            if prefix:
                # The table keeps only the key's first characters in clear.
                tokens = tokens.filter(token_key__startswith=prefix[: CONSTANTS.TOKEN_KEY_LENGTH])
            count, _ = tokens.delete()
            if prefix and not count:
                raise CommandError(f"{username} has no token starting with {prefix!r}")
            self.stdout.write(f"revoked {count} token(s) of {username}")
