"""Upgrading a database that holds conversations through every migration that changes how the rollups are
keyed: after ``migrate`` the rollups are summed again from the conversations, with the rows of today's
schema (per tenant, every tenant, weeks and months), and read the same numbers as the conversations."""

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.management import call_command

from analytics.models import HourlyRollup
from analytics.queries import CONVERSATIONS, ROLLUPS, get_analytics
from tests.factories import ConversationFactory

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def test_upgrading_from_before_the_tenant_rollups_sums_every_rollup_again(db):
    call_command("migrate", "analytics", "0009_seed_provider_list_prices", verbosity=0)
    for day, tenant, cost in ((2, "acme", "0.10"), (10, "globex", "0.25"), (11, "acme", "0.40"), (27, "", "1.00")):
        ConversationFactory(
            started_at=datetime(2026, 11, day, 9, tzinfo=timezone.utc), tenant=tenant, cost_usd=Decimal(cost),
            resolved=day != 10, handoffs={"billing": 1}, agents_used=["supervisor", "billing"],
        )

    call_command("migrate", "analytics", "0012_sync_state_synced_at", verbosity=0)
    assert not HourlyRollup.objects.exists()  # halfway, today's code would not fit the schema: summed at the end
    call_command("migrate", verbosity=0)

    assert {span for span in HourlyRollup.objects.values_list("span", flat=True)} == {"hour", "day", "week", "month"}
    for start, end in ((date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 11, 2), date(2026, 11, 15))):
        scope = {"start": start, "end": end, "tz": ZoneInfo("UTC"), "now": NOW}
        from_rollups = get_analytics(**scope, source=ROLLUPS)
        assert from_rollups == get_analytics(**scope, source=CONVERSATIONS)
    assert (from_rollups.conversations, from_rollups.resolved, from_rollups.total_cost) == (3, 2, Decimal("0.75"))
