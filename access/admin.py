"""API tokens in admin: issue one for a user (its key shown once, on the page that follows), list and revoke
them. The list shows what identifies a token without revealing it: the start of its digest."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext, gettext_lazy as _
from knox.models import AuthToken

from access.tokens import MAX_TOKEN_DAYS, IssuedToken, default_token_days, issue_api_token

DIGEST_PREFIX_LENGTH = 12

admin.site.unregister(AuthToken)  # knox's own lists whole digests and shows a new key in a stored message


class IssueTokenForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=MAX_TOKEN_DAYS, initial=lambda: round(default_token_days()),
        label=_("Expires in (days)"),
        help_text=_("Days until the token stops working."),
    )

    class Meta:
        model = AuthToken
        fields = ["user"]


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("digest_prefix", "user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
    ordering = ("-created",)
    add_form = IssueTokenForm

    @admin.display(description=_("Digest (start)"))
    def digest_prefix(self, token: AuthToken) -> str:
        return f"{token.digest[:DIGEST_PREFIX_LENGTH]}…"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["user", "expires_in_days"] if obj is None else ["digest_prefix", "user", "created", "expiry"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["digest_prefix", "user", "created", "expiry"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a token is issued or revoked, never edited

    def save_form(self, request: HttpRequest, form, change: bool):
        issued = issue_api_token(user=form.cleaned_data["user"], expires_in=timedelta(days=form.cleaned_data["expires_in_days"]))
        request.issued_api_token = issued
        return issued.record

    def save_model(self, request, obj, form, change) -> None:
        pass  # save_form stored it: only the digest of the new key, which exists only in this request

    def save_related(self, request, form, formsets, change) -> None:
        pass  # a token has no relations to save beyond its user

    def response_add(self, request: HttpRequest, obj: AuthToken, post_url_continue=None) -> TemplateResponse:
        issued: IssuedToken = request.issued_api_token
        context = dict(
            self.admin_site.each_context(request),
            opts=self.model._meta,
            title=gettext("API token issued"),
            issued=issued,
            username=obj.user.get_username(),
        )
        response = TemplateResponse(request, "access/token_issued.html", context)
        add_never_cache_headers(response)
        return response
