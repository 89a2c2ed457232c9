"""Pieces every API endpoint shares: view permissions and the error shape."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django import forms
from django.utils.functional import Promise
from django.http import Http404
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
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


ASCII_WHOLE_NUMBER = re.compile(r"[0-9]+")
SIGNED_ASCII_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
# PostgreSQL refuses UTC offsets of 16 hours or more (Python accepts up to 24).
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


def ascii_whole_number(*, text: str) -> int | None:
    """``text`` as a whole number when it is only ASCII digits (int() also takes '٣' and chokes on '²')."""
    return int(text) if ASCII_WHOLE_NUMBER.fullmatch(text) else None


def offset_within_postgres_range(*, moment: datetime) -> bool:
    offset = moment.utcoffset()
    return offset is None or abs(offset) <= MAX_UTC_OFFSET


class WholeNumberField(serializers.IntegerField):
    """An integer written in ASCII digits only; DRF's IntegerField also takes other scripts and '5.0'."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not SIGNED_ASCII_WHOLE_NUMBER.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class AsciiDateField(serializers.DateField):
    """An ISO date in ASCII digits (Django's parser also reads other scripts' digits)."""

    def to_internal_value(self, value: Any):
        if isinstance(value, str) and not value.isascii():
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


class PostgresDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time PostgreSQL can compare: ASCII digits, a UTC offset within ±15:59."""

    default_error_messages = {
        "offset": "the UTC offset must lie within ±15:59; got %(value)r",
    }

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str) and not value.isascii():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        moment = super().to_python(value)
        if moment is not None and not offset_within_postgres_range(moment=moment):
            raise forms.ValidationError(self.error_messages["offset"], code="offset", params={"value": value})
        return moment


class FieldsBuiltOnceSerializer(serializers.Serializer):
    """An output-only serializer whose fields, its nested serializers' included, are built once per class.

    DRF deep-copies and binds every declared field for each instance: for a result of a dozen nested
    serializers that is half the time it takes to serialize. Only for serializers that never validate
    input and whose fields read no ``context``."""

    @property
    def fields(self):
        built = type(self).__dict__.get("_fields_built_once")
        if built is None:
            # bound to an empty instance of their own, so that no request's data stays reachable from them
            built = serializers.Serializer.fields.func(type(self)())
            type(self)._fields_built_once = built
        return built


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong.")


PARAMETER_ERRORS_SCHEMA = {
    "type": "object",
    "description": "Each refused parameter, with what is wrong and what is accepted.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "example": {"page_size": ["must be a whole number from 1 to 200 (ASCII digits); got '0'"]},
}


def error_responses(*, not_found: str | None = None) -> dict[tuple[int, str], OpenApiResponse]:
    """The error answers an endpoint gives, for its OpenAPI description; ``not_found`` says when a 404 comes.
    They are JSON whatever format the endpoint was asked for."""
    responses = {
        400: OpenApiResponse(PARAMETER_ERRORS_SCHEMA, description="A parameter is wrong."),
        401: OpenApiResponse(ErrorSerializer, description="No credentials, or credentials that are not valid."),
        403: OpenApiResponse(ErrorSerializer, description="Authenticated, without the view permission."),
        429: OpenApiResponse(ErrorSerializer, description="Too many requests; retry after Retry-After seconds."),
        503: OpenApiResponse(ErrorSerializer, description="The database is unavailable; retry after Retry-After seconds."),
    }
    if not_found:
        # {"detail": …} for a missing resource, {"<param>": […]} when a parameter points past it
        schema = {**PARAMETER_ERRORS_SCHEMA, "properties": {"detail": {"type": "string"}}, "example": {"detail": "…"}}
        responses[404] = OpenApiResponse(schema, description=not_found)
    return {(code, "application/json"): response for code, response in sorted(responses.items())}


def blank_query_parameters_are_unset(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: ``?status=`` means no status filter everywhere in this API
    (django-filter and DRF both read an empty value as an absent one), so the schema admits it."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    parameter["allowEmptyValue"] = True
    return result


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
