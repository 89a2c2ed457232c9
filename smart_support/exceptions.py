"""What the API answers when a request fails in a way no parameter explains."""

from __future__ import annotations

import psycopg
from django.db import InterfaceError, OperationalError
from django.utils.log import log_response
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler, set_rollback

# Django's database and the checkpoint database (reached through psycopg directly) being down or
# unreachable: the request cannot be answered now but may be in a moment.
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; try again in a moment."
RETRY_AFTER_SECONDS = "5"


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's answers for API errors; a JSON 503 when the database is unreachable; a JSON 500 for
    anything else. Both are logged on ``django.request`` with the traceback (DRF would re-raise them
    and leave a DEBUG=false server with an HTML page and no trace of the cause)."""
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        response = Response(
            {"detail": DATABASE_UNAVAILABLE_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    else:
        response = drf_exception_handler(exc, context)
        if response is not None:
            return response
        response = Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    set_rollback()
    request = getattr(context.get("request"), "_request", None)
    if request is not None:
        log_response(
            "%s: %s", response.reason_phrase, request.path, response=response, request=request, exception=exc
        )
    return response
