"""How the API's authentication reads in its OpenAPI schema (drf-spectacular matches exact classes)."""

from drf_spectacular.authentication import BasicScheme
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme


class ApiTokenScheme(KnoxTokenScheme):
    target_class = "access.authentication.ApiTokenAuthentication"


class PasswordLoginScheme(BasicScheme):
    target_class = "access.authentication.PasswordLoginAuthentication"
