"""Usage rollups gain week rows (UTC, from Monday), summed here from the day rows already stored, so the
breakdowns of a range read its whole weeks at once from the first request on. The SQL is this migration's
own copy of the week refresh (``analytics.usage_rollups``) over every day, as that module may change later."""

from django.db import migrations, models

_WEEKS_FROM_DAYS_SQL = """
WITH source AS (SELECT date_trunc('week', hour, 'UTC') AS period, * FROM analytics_usage_rollups WHERE span = 'day'),
sums AS (
    SELECT period, tenant, scope, agent, model, sum(calls) AS calls, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens,
           sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens,
           sum(cost_usd) AS cost_usd, sum(cache_savings_usd) AS cache_savings_usd, sum(unpriced_calls) AS unpriced_calls
    FROM source GROUP BY period, tenant, scope, agent, model
), per_bucket AS (
    SELECT period, tenant, scope, agent, model, kind, bucket, sum(n)::int AS n FROM (
        SELECT period, tenant, scope, agent, model, 'llm' AS kind, bucket, n
        FROM source, unnest(llm_latency_buckets, llm_latency_counts) AS latency(bucket, n)
        UNION ALL
        SELECT period, tenant, scope, agent, model, 'tool', bucket, n
        FROM source, unnest(tool_latency_buckets, tool_latency_counts) AS latency(bucket, n)) AS histogram
    GROUP BY period, tenant, scope, agent, model, kind, bucket
), histograms AS (
    SELECT period, tenant, scope, agent, model,
           array_agg(bucket ORDER BY bucket) FILTER (WHERE kind = 'llm') AS llm_buckets,
           array_agg(n ORDER BY bucket) FILTER (WHERE kind = 'llm') AS llm_counts,
           array_agg(bucket ORDER BY bucket) FILTER (WHERE kind = 'tool') AS tool_buckets,
           array_agg(n ORDER BY bucket) FILTER (WHERE kind = 'tool') AS tool_counts
    FROM per_bucket GROUP BY period, tenant, scope, agent, model
)
INSERT INTO analytics_usage_rollups (span, hour, tenant, scope, agent, model, calls, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, cache_savings_usd, unpriced_calls,
    llm_latency_buckets, llm_latency_counts, tool_latency_buckets, tool_latency_counts)
SELECT 'week', sums.period, sums.tenant, sums.scope, sums.agent, sums.model, calls, input_tokens, output_tokens,
       cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, cache_savings_usd, unpriced_calls,
       coalesce(llm_buckets, '{}'), coalesce(llm_counts, '{}'), coalesce(tool_buckets, '{}'), coalesce(tool_counts, '{}')
FROM sums LEFT JOIN histograms
  ON histograms.period = sums.period AND histograms.scope = sums.scope AND histograms.agent = sums.agent
 AND histograms.model = sums.model AND histograms.tenant IS NOT DISTINCT FROM sums.tenant
"""


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0015_partition_events_by_month'),
    ]

    operations = [
        migrations.AlterField(
            model_name='usagerollup',
            name='hour',
            field=models.DateTimeField(help_text='Start of the hour, day, week or month the conversations started in, in UTC.'),
        ),
        migrations.AlterField(
            model_name='usagerollup',
            name='span',
            field=models.CharField(choices=[('hour', 'Hour'), ('day', 'Day'), ('week', 'Week'), ('month', 'Month')], max_length=5),
        ),
        migrations.RunSQL(
            ["DELETE FROM analytics_usage_rollups WHERE span = 'week'", _WEEKS_FROM_DAYS_SQL],
            reverse_sql="DELETE FROM analytics_usage_rollups WHERE span = 'week'",
        ),
    ]
