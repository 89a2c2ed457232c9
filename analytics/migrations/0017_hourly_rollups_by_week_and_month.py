"""Hourly rollups gain week (UTC, from Monday) and month rows, summed here from the day rows already
stored, so a year's figures read about a dozen rows per agent from the first request on. The SQL is this
migration's own copy of the refresh (``analytics.storage``), its measure columns taken from the model as
it stands at this migration."""

from django.db import migrations, models

_KEY_COLUMNS = {"id", "span", "hour", "tenant", "agent", "handoffs", "unpriced_models"}
_MERGE_FROM_DAYS_SQL = """
WITH source_rows AS (SELECT date_trunc('{span}', hour, 'UTC') AS period, * FROM analytics_hourly_rollups WHERE span = 'day'),
totals AS (SELECT period, tenant, agent, {sums} FROM source_rows GROUP BY period, tenant, agent),
handoffs AS (
    SELECT period, tenant, agent, jsonb_object_agg(target, routings) AS handoffs
    FROM (SELECT period, tenant, agent, handoff.key AS target, sum(handoff.value::int) AS routings
          FROM source_rows, jsonb_each_text(source_rows.handoffs) AS handoff
          GROUP BY period, tenant, agent, handoff.key) per_target
    GROUP BY period, tenant, agent
), unpriced AS (
    SELECT period, tenant, agent, array_agg(DISTINCT model ORDER BY model) AS models
    FROM source_rows, unnest(source_rows.unpriced_models) AS model GROUP BY period, tenant, agent
)
INSERT INTO analytics_hourly_rollups (span, hour, tenant, agent, {columns}, handoffs, unpriced_models)
SELECT '{span}', totals.period, totals.tenant, totals.agent, {columns}, coalesce(handoffs.handoffs, '{{}}'::jsonb),
       coalesce(unpriced.models, ARRAY[]::text[])
FROM totals
LEFT JOIN handoffs ON handoffs.period = totals.period AND handoffs.agent = totals.agent
                  AND handoffs.tenant IS NOT DISTINCT FROM totals.tenant
LEFT JOIN unpriced ON unpriced.period = totals.period AND unpriced.agent = totals.agent
                  AND unpriced.tenant IS NOT DISTINCT FROM totals.tenant
"""


def sum_weeks_and_months_from_days(apps, schema_editor):
    rollup = apps.get_model("analytics", "HourlyRollup")
    summed = [field.column for field in rollup._meta.fields if field.column not in _KEY_COLUMNS]
    delete_weeks_and_months(apps, schema_editor)  # any a newer sync wrote before this ran are summed again
    for span in ("week", "month"):
        schema_editor.execute(_MERGE_FROM_DAYS_SQL.format(
            span=span, columns=", ".join(summed), sums=", ".join(f"sum({column}) AS {column}" for column in summed),
        ))


def delete_weeks_and_months(apps, schema_editor):
    schema_editor.execute("DELETE FROM analytics_hourly_rollups WHERE span IN ('week', 'month')")


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0016_usage_rollups_by_week'),
    ]

    operations = [
        migrations.AlterField(
            model_name='hourlyrollup',
            name='hour',
            field=models.DateTimeField(help_text='Start of the hour, day, week or month, in UTC.'),
        ),
        migrations.AlterField(
            model_name='hourlyrollup',
            name='span',
            field=models.CharField(choices=[('hour', 'Hour'), ('day', 'Day'), ('week', 'Week'), ('month', 'Month')], default='hour', max_length=5),
        ),
        migrations.RunPython(sum_weeks_and_months_from_days, delete_weeks_and_months),
    ]
