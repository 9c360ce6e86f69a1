"""/accounts/: sign-in accounts for super admins (no Django /admin/ needed), and the one-time set-password page.

Every change is a console.domain.accounts operation (its checks and its audit)."""
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views import View

from console.domain import accounts
from console.domain.errors import DomainError

from .generic import forbid_on_refusal, refusal_status


class AccountListView(View):
    template_name = "console/accounts/list.html"

    def render(self, link=None, linked_user=None, status=200):
        try:
            users = accounts.list_accounts(self.request.user)
        except DomainError as exc:
            forbid_on_refusal(exc)
            raise
        return render(self.request, self.template_name, {
            "accounts": users, "link": link, "linked_user": linked_user, "sso": accounts.sso_signs_in(),
        }, status=status)

    def get(self, request):
        return self.render()

    def post(self, request):
        action = request.POST.get("action")
        try:
            user = accounts.get_account(request.user, request.POST.get("user"))
            if action in ("deactivate", "reactivate"):
                accounts.set_account_active(request.user, user, action == "reactivate")
                messages.success(request, f"{user.username} is {'active' if user.is_active else 'deactivated'}.")
                return redirect("account_list")
            if action == "link":
                path = accounts.issue_password_link(request.user, user)
                # Shown once, on this response: a redirect would carry the token through a URL or the session.
                return self.render(link=request.build_absolute_uri(path), linked_user=user)
            raise DomainError("invalid", "Unknown action.")
        except DomainError as exc:
            forbid_on_refusal(exc)
            messages.error(request, exc.message)
            return self.render(status=refusal_status(exc))


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The page a set-password link opens: Django's reset confirmation (token checked, single use, expiring)."""

    template_name = "registration/set_password.html"
    success_url = reverse_lazy("login")
    title = "Set your password"

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set: sign in with it.")
        return response


set_password_view = login_not_required(SetPasswordView.as_view())
