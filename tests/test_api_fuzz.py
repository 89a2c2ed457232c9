"""Every API operation under generated input (schemathesis, through the real WSGI app and database):
no 5xx, and every answer exactly as the OpenAPI schema at /api/schema/ describes it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.conf import settings as django_settings
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from access.tokens import issue_api_token
from smart_support.agent.scenarios import plan_conversation
from tests.factories import ConversationFactory

ODD_THREAD_IDS = ("tenant/42/chat", "with space", "ünïcødé-会話", "z" * 300, "a.json", "50%?#&=+")
REPLAYED_THREAD_ID = "tenant/7/chat ü"


@pytest.fixture
def token(db) -> str:
    return issue_api_token(user=User.objects.create_superuser("fuzzer")).key


@pytest.fixture
def requests_keep_the_test_connection() -> Iterator[None]:
    """As in Django's test client: a request must not close the connection holding the test's transaction."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def conversations(db, run_reference_agent) -> None:
    """Rows with odd thread ids for the list and the CSV, and one thread with real checkpoints to replay."""
    for thread_id in ODD_THREAD_IDS:
        ConversationFactory(thread_id=thread_id, metadata={"tenant": "acme/eu", "channel": "wéb"})
    plan = dataclasses.replace(plan_conversation(seed=4, index=0, scenario="refund_approved"), thread_id=REPLAYED_THREAD_ID)
    run_reference_agent(plan, datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc))
    ConversationFactory(thread_id=REPLAYED_THREAD_ID)


# The live schema, fetched through the WSGI app like any client would, with the docs made public and
# request rates off (no database to sign in with or count requests in at collection time; the generated
# requests are authenticated).
_NO_RATES = {**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "off", "user": "off"}}
with override_settings(SMART_SUPPORT={**django_settings.SMART_SUPPORT, "PUBLIC_API_DOCS": True}, REST_FRAMEWORK=_NO_RATES):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@schema.parametrize()
@settings(
    max_examples=200, derandomize=True, deadline=None,
    # one database transaction (the fixtures') serves every example of an operation
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_gets_a_5xx_or_an_answer_the_schema_does_not_describe(
    case, token, requests_keep_the_test_connection, conversations
):
    # Every check but one: a schema cannot say which cursors the API gave out, that from and to come
    # together, or which zones PostgreSQL knows, so schema-valid values can rightly get a 400 (the
    # hand-written tests assert those 400s and their messages).
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=[positive_data_acceptance])


def test_replays_of_real_threads_match_the_schema(token, requests_keep_the_test_connection, conversations):
    operation = schema["/api/replay/{thread_id}"]["GET"]
    for thread_id, status in ((REPLAYED_THREAD_ID, 200), (ODD_THREAD_IDS[0], 404)):
        for query in ({}, {"page": 2, "page_size": 3}):
            case = operation.Case(path_parameters={"thread_id": thread_id}, query=query)
            response = case.call_and_validate(headers={"Authorization": f"Token {token}"})
            assert response.status_code == status
