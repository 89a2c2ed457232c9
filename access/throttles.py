"""DRF's request-rate limits (429 with Retry-After), their rates read when a request comes, not when
the class was imported, so a changed setting applies (DRF's own classes freeze them at import)."""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.settings import api_settings

OFF = {"", "off", "none"}


class CurrentRateMixin:
    scope: str

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return None if rate is None or rate.strip().lower() in OFF else rate


class AnonymousRateThrottle(CurrentRateMixin, throttling.AnonRateThrottle):
    """Requests without credentials, per client address (``SMART_SUPPORT_THROTTLE_ANON``)."""


class UserRateThrottle(CurrentRateMixin, throttling.UserRateThrottle):
    """Requests of one signed-in user or token (``SMART_SUPPORT_THROTTLE_USER``)."""
