"""Pieces every API endpoint shares: view permissions and the error shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from django.utils.functional import Promise
from django.http import Http404
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.renderers import JSONRenderer


class ApiInputChecks:
    """Input DRF would not answer with a 400 naming the parameter: NUL characters (PostgreSQL cannot
    store or compare them) and an unknown ``format``."""

    def perform_content_negotiation(self, request, force: bool = False):
        try:
            return super().perform_content_negotiation(request, force)
        except (Http404, NotFound):
            formats = ", ".join(sorted({renderer.format for renderer in self.get_renderers()}))
            raise ValidationError({"format": [f"must be one of {formats}; got {request.query_params.get('format')!r}"]}) from None

    def initial(self, request, *args, **kwargs) -> None:
        bad = sorted(key for key, value in request.query_params.items() if "\x00" in key or "\x00" in value)
        bad += [name for name, value in kwargs.items() if isinstance(value, str) and "\x00" in value]
        if bad:
            raise ValidationError({name.replace("\x00", ""): ["must not contain NUL characters"] for name in bad})
        super().initial(request, *args, **kwargs)


class ViewModelPermission(DjangoModelPermissions):
    """Reading needs the model's ``view`` permission (DRF's default lets any authenticated user read)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class FastJSONRenderer(JSONRenderer):
    """DRF's JSON, rendered by orjson: a 500-step replay page renders several times faster."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        try:
            return orjson.dumps(data, default=_jsonable, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return super().render(data, accepted_media_type, renderer_context)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Promise):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
