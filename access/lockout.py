"""What a login refused by django-axes (too many failures of one username from one address) answers."""

from __future__ import annotations

from axes.helpers import get_client_username, get_cool_off
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext


def lockout_seconds() -> int:
    """How long a lockout lasts: every refused attempt, the right password included, starts it again."""
    return int(get_cool_off().total_seconds())


def lockout_message(*, username: str) -> str:
    minutes = lockout_seconds() / 60
    # ngettext picks the plural form by a whole number; a fractional span reads as plural
    span = ngettext("%(minutes)s minute", "%(minutes)s minutes", 1 if minutes == 1 else 2) % {"minutes": f"{minutes:g}"}
    return gettext(
        "Too many failed logins for %(username)s from this address: logins are refused for %(span)s, "
        "even with the right password. Try again later, or ask an administrator to unlock the account."
    ) % {"username": repr(username), "span": span}


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE, for the admin's login: a page, 429 with Retry-After. (The API's
    login answers its own JSON 429: django-axes flags DRF's request, which its middleware never sees.)"""
    username = get_client_username(request, credentials) or ""
    headers = {"Retry-After": str(lockout_seconds())}
    context = dict(admin.site.each_context(request), title=gettext("Login refused"), message=lockout_message(username=username))
    return TemplateResponse(request, "access/lockout.html", context, status=429, headers=headers).render()
