"""``POST /api/auth/login``: a username and password (HTTP Basic) for an expiring API token."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.views import LoginView
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from access.authentication import PasswordLoginAuthentication
from smart_support.api import ErrorSerializer


class ApiLoginView(LoginView):
    """Exchange a password for a token: django-axes refuses a username after repeated failures from one address."""

    authentication_classes = [PasswordLoginAuthentication]

    @extend_schema(
        operation_id="auth_login",
        request=None,
        responses={
            (200, "application/json"): inline_serializer(
                "IssuedToken",
                {
                    "token": serializers.CharField(help_text=_("Send as 'Authorization: Token <token>'. Shown only here.")),
                    "expiry": serializers.DateTimeField(help_text=_("When the token stops working.")),
                },
            ),
            (401, "application/json"): OpenApiResponse(ErrorSerializer, description=_("No credentials, or wrong ones.")),
            (429, "application/json"): OpenApiResponse(
                ErrorSerializer,
                description=_("Too many failed logins of this username from this address; retry after Retry-After seconds."),
            ),
            (503, "application/json"): OpenApiResponse(ErrorSerializer, description=_("The database is unavailable.")),
        },
    )
    def post(self, request, format=None):
        return super().post(request, format=format)
