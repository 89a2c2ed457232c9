"""The API's schema and Swagger UI: behind login unless SMART_SUPPORT_PUBLIC_API_DOCS is true, and the UI's
assets served by the app itself."""

import re

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client
from rest_framework.test import APIClient

from access.tokens import issue_api_token


@pytest.fixture
def public_docs(settings):
    settings.SMART_SUPPORT = {**settings.SMART_SUPPORT, "PUBLIC_API_DOCS": True}


def test_anonymous_visitors_of_the_docs_are_sent_to_the_login_page(db):
    response = Client().get("/api/docs/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/api/docs/")


def test_anonymous_requests_for_the_schema_get_401(db):
    response = Client().get("/api/schema/")
    assert (response.status_code, response.json()) == (401, {"detail": "Authentication credentials were not provided."})
    assert response["WWW-Authenticate"] == "Token"


def test_signed_in_users_get_the_docs_and_the_schema(admin_client):
    assert admin_client.get("/api/docs/").status_code == 200
    assert admin_client.get("/api/schema/", {"format": "json"}).json()["info"]["title"] == "Smart Support back office API"


def test_a_token_reads_the_schema(db):
    token = issue_api_token(user=User.objects.create_user("script")).key
    response = APIClient().get("/api/schema/", {"format": "json"}, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


def test_public_docs_need_no_login(db, public_docs):
    assert Client().get("/api/docs/").status_code == 200
    assert Client().get("/api/schema/", {"format": "json"}).status_code == 200


def test_the_docs_page_loads_its_assets_from_this_app(admin_client):
    page = admin_client.get("/api/docs/").content.decode()

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) >= 3  # the UI's script, its preset and its stylesheet
    assert "//" not in "".join(assets)  # no CDN
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/")
        assert finders.find(asset.removeprefix("/static/")), asset


def test_the_schema_documents_knox_tokens_and_the_password_login(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()

    assert schema["components"]["securitySchemes"]["knoxApiToken"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert schema["paths"]["/api/conversations"]["get"]["security"] == [{"knoxApiToken": []}, {"cookieAuth": []}]
    login = schema["paths"]["/api/auth/login"]["post"]
    assert login["security"] == [{"basicAuth": []}]
    assert set(login["responses"]) == {"200", "401", "429", "503"}
