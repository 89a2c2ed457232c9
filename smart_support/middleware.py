"""Admin pages: a plain 503 page when the database cannot be reached, and times in the zone the user chose."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.log import log_response

from smart_support.exceptions import DATABASE_UNAVAILABLE_ERRORS, RETRY_AFTER_SECONDS
from smart_support.time_zones import SESSION_KEY, session_time_zone


def database_unavailable_page(request: HttpRequest, exception: Exception) -> HttpResponse:
    # No request context: its processors (user, messages) would need the database.
    response = HttpResponse(render_to_string("503.html"), status=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
    log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request, exception=exception)
    return response


class DatabaseUnavailableMiddleware:
    """An admin page whose database is down answers a plain 503 page instead of a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return None
        return database_unavailable_page(request, exception)


class SessionTimeZoneMiddleware:
    """Admin pages show times in the zone the user chose on the dashboard (kept in the session; after
    SessionMiddleware). The API takes its zone as a parameter instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            if request.path.startswith(reverse("admin:index")):
                try:
                    chosen = SESSION_KEY in request.session
                except DATABASE_UNAVAILABLE_ERRORS as error:  # the session lives in the database
                    return database_unavailable_page(request, error)
                if chosen:
                    timezone.activate(session_time_zone(session=request.session))
            return self.get_response(request)
        finally:
            # A server thread serves many users: the zone one of them chose (the dashboard activates it too)
            # must never outlive their request.
            timezone.deactivate()
