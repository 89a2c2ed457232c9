"""The OpenAPI schema and its Swagger UI: for signed-in users unless SMART_SUPPORT_PUBLIC_API_DOCS is true.
The UI's scripts and styles come from drf-spectacular-sidecar, served by this app (no CDN)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission

from smart_support.api import FastJSONRenderer


def api_docs_are_public() -> bool:
    return settings.SMART_SUPPORT["PUBLIC_API_DOCS"]


class ApiDocsPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        return api_docs_are_public() or bool(request.user and request.user.is_authenticated)


class ApiSchemaView(SpectacularAPIView):
    """401 for anonymous requests unless the docs are public."""

    permission_classes = [ApiDocsPermission]

    def handle_exception(self, exc: Exception):
        # errors are JSON, as everywhere in the API, even where the schema itself would be YAML
        self.request.accepted_renderer, self.request.accepted_media_type = FastJSONRenderer(), "application/json"
        return super().handle_exception(exc)


class ApiDocsView(SpectacularSwaggerView):
    """A browser page: anonymous visitors are sent to the login page and back."""

    permission_classes = [ApiDocsPermission]

    def handle_exception(self, exc: Exception):
        if isinstance(exc, (NotAuthenticated, AuthenticationFailed)):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
