import re
from datetime import date

from django.db import migrations, models
from django.utils import timezone

_DETACHED = re.compile(r"^analytics_events_(\d{4})_(\d{2})_detached(?:_\d+)?$")


def record_months_detached_before(apps, schema_editor):
    """Months detached before this table existed, from the tables they became (those not dropped since)."""
    DetachedEventMonth = apps.get_model("analytics", "DetachedEventMonth")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class "
            "WHERE relkind = 'r' AND relname ~ '^analytics_events_[0-9]{4}_[0-9]{2}_detached' ORDER BY relname"
        )
        for table, rows in cursor.fetchall():
            if match := _DETACHED.match(table):
                DetachedEventMonth.objects.update_or_create(
                    month=date(int(match[1]), int(match[2]), 1),
                    defaults={"table": table, "rows": rows, "detached_at": timezone.now()},
                )
        # A detached table may have been dropped already: conversations older than the oldest month still attached
        # lost their events to it, so the month before that one is taken as the latest detached.
        cursor.execute(
            "SELECT (min(to_date(substring(child.relname from 18), 'YYYY_MM')) - interval '1 month')::date "
            "FROM pg_inherits JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = 'analytics_events'::regclass AND child.relname ~ '^analytics_events_[0-9]{4}_[0-9]{2}$'"
        )
        (month_before_oldest,) = cursor.fetchone()
        if month_before_oldest is None or DetachedEventMonth.objects.filter(month__gte=month_before_oldest).exists():
            return
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE started_at < (%s::date + interval '1 month') AT TIME ZONE 'UTC')",
            [month_before_oldest],
        )
        if cursor.fetchone()[0]:
            DetachedEventMonth.objects.create(
                month=month_before_oldest, table="(dropped before the upgrade)", rows=0, detached_at=timezone.now()
            )


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0017_hourly_rollups_by_week_and_month'),
    ]

    operations = [
        migrations.CreateModel(
            name='DetachedEventMonth',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text='First day of the UTC month.', unique=True)),
                ('table', models.TextField(help_text='The plain table its events were moved to, to archive or drop.')),
                ('rows', models.BigIntegerField(help_text='Events detached with it.')),
                ('detached_at', models.DateTimeField(help_text='When it was last detached.')),
            ],
            options={
                'db_table': 'analytics_detached_event_months',
                'ordering': ['month'],
                'verbose_name': 'detached event month',
                'verbose_name_plural': 'detached event months',
            },
        ),
        migrations.RunPython(record_months_detached_before, migrations.RunPython.noop),
    ]
