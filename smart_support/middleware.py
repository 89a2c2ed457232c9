"""Pages outside the API when the database cannot be reached."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.log import log_response

from smart_support.exceptions import DATABASE_UNAVAILABLE_ERRORS, RETRY_AFTER_SECONDS


class DatabaseUnavailableMiddleware:
    """An admin page whose database is down answers a plain 503 page instead of a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return None
        # No request context: its processors (user, messages) would need the database.
        response = HttpResponse(render_to_string("503.html"), status=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
        log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request, exception=exception)
        return response
