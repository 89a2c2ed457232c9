"""Every measure of the registry sums exactly and is served wherever managers and API consumers look."""

import csv
import io
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from analytics.measures import MEASURES, Kind
from analytics.queries import CONVERSATIONS, ROLLUPS, get_analytics, source_for
from analytics.storage import rebuild_rollups
from replay.models import Conversation
from tests.factories import ConversationFactory

ZONES = ("UTC", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", "Europe/Berlin")
AGENTS = ("orders", "billing", "tech_support")
# the United States leave daylight saving time on 2026-11-01: one day of that week has 25 hours there
FIRST_START = datetime(2026, 10, 29, 0, 7, tzinfo=timezone.utc)


def _value(kind: Kind, rng: random.Random):
    if kind == Kind.FLAG:
        return rng.random() < 0.4
    if kind == Kind.USD:
        return Decimal(rng.randrange(0, 10**7)) / Decimal(10**8)
    if kind == Kind.TOKENS:
        return rng.randrange(0, 50_000)
    return rng.randrange(0, 12)


@pytest.fixture
def scattered(db):
    """Sixty conversations every 2 h 13 min over five days, each measure a different seeded value."""
    rng = random.Random(12)
    for index in range(60):
        agents = ["supervisor", *rng.sample(AGENTS, rng.randrange(0, 3))]
        ConversationFactory(
            started_at=FIRST_START + index * timedelta(hours=2, minutes=13),
            agents_used=agents,
            **{measure.name: _value(measure.kind, rng) for measure in MEASURES},
        )
    rebuild_rollups()


def _by_hand(*, start: date, end: date, tz: ZoneInfo, agent: str | None) -> dict:
    rows = [
        row for row in Conversation.objects.all()
        if start <= row.started_at.astimezone(tz).date() <= end and (agent is None or agent in row.agents_used)
    ]
    return {
        measure.name: sum((getattr(row, measure.name) for row in rows), measure.zero()) for measure in MEASURES
    }, len(rows)


@pytest.mark.parametrize("zone", ZONES)
def test_every_measure_sums_exactly_in_every_zone_from_rollups_and_rows_alike(scattered, zone):
    tz = ZoneInfo(zone)
    for start, end in ((date(2026, 10, 29), date(2026, 11, 2)), (date(2026, 11, 1), date(2026, 11, 1)),
                       (date(2026, 10, 30), date(2026, 10, 31))):
        for agent in (None, "billing"):
            expected, population = _by_hand(start=start, end=end, tz=tz, agent=agent)
            # rollups hold whole UTC hours: a zone half an hour off is always read from the conversations
            sources = (CONVERSATIONS, None, *((ROLLUPS,) if source_for(start=start, end=end, tz=tz) is ROLLUPS else ()))
            for source in sources:
                result = get_analytics(start=start, end=end, tz=tz, agent=agent, source=source)
                assert (result.conversations, dict(result.totals.measures)) == (population, expected), (zone, start, agent)


def test_flags_count_the_conversations_where_they_hold(scattered):
    result = get_analytics(start=date(2026, 10, 29), end=date(2026, 11, 3), tz=ZoneInfo("UTC"))
    assert result.totals["resolved"] == Conversation.objects.filter(resolved=True).count() == result.resolved
    assert result.totals["escalated"] == Conversation.objects.filter(escalated=True).count() == result.escalated
    assert 0 < result.resolved < result.conversations == 60


def test_every_measure_is_in_the_api_the_csv_and_the_dashboard(scattered, client):
    conversation = Conversation.objects.order_by("started_at").first()
    manager = User.objects.create_superuser("manager", password="x")
    client.force_login(manager)
    names = [measure.name for measure in MEASURES]

    listed = client.get("/api/conversations", {"started_after": conversation.started_at.isoformat(), "ordering": "started_at"})
    first = listed.json()["results"][0]
    exported = client.get("/api/conversations", {"format": "csv", "started_after": conversation.started_at.isoformat()})
    header, *rows = csv.reader(io.StringIO(b"".join(exported.streaming_content).decode()))
    analytics = client.get("/api/analytics", {"from": "2026-10-29", "to": "2026-11-03", "tz": "UTC"}).json()
    dashboard = client.get("/admin/analytics/dashboard/", {"from": "2026-10-29", "to": "2026-11-03", "tz": "UTC"})
    schema = client.get("/api/schema/", {"format": "json"}).json()

    assert {name: first[name] for name in names} == {
        name: (f"{getattr(conversation, name):.8f}" if measure.kind == Kind.USD else getattr(conversation, name))
        for name, measure in zip(names, MEASURES)
    }
    assert [column for column in header if column in names] == names
    assert set(analytics["totals"]) == set(names)
    assert Decimal(analytics["totals"]["cost_usd"]) == sum(row.cost_usd for row in Conversation.objects.all())
    for measure in MEASURES:
        assert f'id="measure-{measure.name}"' in dashboard.content.decode()
        described = schema["components"]["schemas"]["MeasureTotals"]["properties"][measure.name]
        assert str(measure.definition) in described["description"]
        if measure.kind == Kind.USD:  # what a generated client validates: up to 10 digits, then 8 decimals
            assert (described["type"], described["format"], described["pattern"]) == ("string", "decimal", r"^-?\d{0,10}(?:\.\d{0,8})?$")
        else:
            assert described["type"] == "integer"


def test_the_migrations_create_every_measure_column_as_declared(db):
    """A measure's column type, size, default or definition changed without a migration would leave the
    tables unlike the models (a sum overflowing, a flag stored as a number): makemigrations finds nothing to do."""
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert out.getvalue() == "No changes detected\n"


def test_each_measure_column_is_the_field_the_registry_declares(db):
    """The registry, read now, against what the migrations made: the same type, size, default and help text
    on the conversations and on the rollups, and the conversation column marked so replay finds it."""
    migrated = MigrationLoader(connection).project_state().apps
    conversations, rollups = migrated.get_model("replay", "Conversation"), migrated.get_model("analytics", "HourlyRollup")
    for measure in MEASURES:
        declared_column, declared_sum = measure.conversation_field(), measure.rollup_field()

        assert declared_column.deconstruct()[1:] == conversations._meta.get_field(measure.name).deconstruct()[1:], measure.name
        assert declared_sum.deconstruct()[1:] == rollups._meta.get_field(measure.name).deconstruct()[1:], measure.name
        assert declared_column.is_measure
    assert set(Conversation.measure_names()) == {measure.name for measure in MEASURES}
