"""API tokens: django-rest-knox keeps only a digest of each key, so a key is shown once, when issued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from knox.models import AuthToken
from knox.settings import knox_settings

# timedelta and PostgreSQL both take this; a longer-lived key is better not issued at all.
MAX_TOKEN_DAYS = 3650


@dataclass(frozen=True)
class IssuedToken:
    key: str  # never stored: only its digest is
    expiry: datetime
    record: AuthToken


def default_token_days() -> float:
    return knox_settings.TOKEN_TTL.total_seconds() / 86400


def issue_api_token(*, user: AbstractBaseUser, expires_in: timedelta | None = None) -> IssuedToken:
    """Given a user, store a new token's digest and return the key (the one time it exists) and its expiry."""
    record, key = AuthToken.objects.create(user=user, expiry=expires_in or knox_settings.TOKEN_TTL)
    return IssuedToken(key=key, expiry=record.expiry, record=record)
