"""How an API request proves who sends it: a hashed, expiring token (django-rest-knox) or a password
at the login endpoint, both refused with an answer rather than an error."""

from __future__ import annotations

from django.utils.translation import gettext
from knox.auth import TokenAuthentication
from rest_framework import status
from rest_framework.authentication import BasicAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed

from access.lockout import lockout_message, lockout_seconds


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, checked against the stored digest; a key that is not UTF-8 is
    an invalid token (knox would fail decoding it)."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthenticationFailed(gettext("Invalid token.")) from None
        return super().authenticate_credentials(token)


class LockedOut(APIException):
    """A 429 whose ``wait`` DRF sends as Retry-After."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, *, detail: str, wait: int) -> None:
        super().__init__(detail)
        self.wait = wait


class PasswordLoginAuthentication(BasicAuthentication):
    """HTTP Basic for the token login only. After too many failed logins of one username from one address
    even the right password is refused, with a 429 saying for how long (django-axes counts them)."""

    def authenticate_credentials(self, userid: str, password: str, request=None):
        try:
            return super().authenticate_credentials(userid, password, request)
        except AuthenticationFailed:
            # django-axes flags the request it was given: here DRF's, which its middleware never sees.
            if getattr(request, "axes_locked_out", False):
                raise LockedOut(wait=lockout_seconds(), detail=lockout_message(username=userid)) from None
            raise

    def authenticate_header(self, request) -> str:
        return 'Basic realm="api"'
