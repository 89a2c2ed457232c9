"""``analytics_events`` becomes a table partitioned by month of ``occurred_at`` (UTC), its rows kept.

On a partitioned table every unique constraint must hold the partition key, so the database's rules change:
the primary key is (id, occurred_at), and (conversation, dedup_key) — unique across every month, as before — is
enforced by the trigger ``analytics_events_unique_dedup_key`` beside the per-month unique index that serves it.
An event's time is not a function of its key (a checkpoint committed late moves a message earlier), so
(conversation, dedup_key, occurred_at) alone would let a re-derivation keep the old row beside the new one.
"""

from django.db import migrations, models

# Months created ahead of the current one here; the sync keeps as many ready (analytics/partitions.py).
MONTHS_AHEAD = 3

_INDEXES_AND_KEYS = """
ALTER TABLE analytics_events ADD CONSTRAINT analytics_events_pkey PRIMARY KEY ({primary_key});
ALTER TABLE analytics_events ADD CONSTRAINT {unique_name} UNIQUE ({unique_columns});
ALTER TABLE analytics_events ADD CONSTRAINT analytics_events_conversation_id_6867192f_fk_conversations_id
    FOREIGN KEY (conversation_id) REFERENCES conversations (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX analytics_events_conversation_id_6867192f ON analytics_events (conversation_id);
CREATE INDEX event_occurred_idx ON analytics_events (occurred_at);
CREATE INDEX event_type_occurred_idx ON analytics_events (event_type, occurred_at);
CREATE INDEX event_conversation_type_idx ON analytics_events (conversation_id, event_type);
CREATE INDEX event_pending_interrupt_idx ON analytics_events (occurred_at)
    WHERE event_type = 'interrupt_raised' AND status = 'pending';
"""

_UNIQUE_DEDUP_KEY_TRIGGER = """
CREATE FUNCTION analytics_events_unique_dedup_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    conversation_ids bigint[];
    duplicate record;
BEGIN
    IF TG_OP = 'UPDATE' THEN  -- only rows whose conversation or key changed (a reprice changes neither)
        SELECT array_agg(DISTINCT written.conversation_id) INTO conversation_ids FROM new_events AS written
        WHERE NOT EXISTS (SELECT 1 FROM old_events AS before WHERE before.id = written.id
                          AND before.conversation_id = written.conversation_id AND before.dedup_key = written.dedup_key);
    ELSE
        SELECT array_agg(DISTINCT conversation_id) INTO conversation_ids FROM new_events;
    END IF;
    IF conversation_ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- Writers of one conversation's events take turns (the recorder's upsert already holds these rows), so
    -- the check below sees what an earlier writer committed.
    PERFORM 1 FROM conversations WHERE id = ANY (conversation_ids) ORDER BY id FOR NO KEY UPDATE;
    SELECT conversation_id, dedup_key INTO duplicate FROM analytics_events
    WHERE conversation_id = ANY (conversation_ids) GROUP BY conversation_id, dedup_key HAVING count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "event_unique_dedup_key"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'event_unique_dedup_key', TABLE = 'analytics_events',
                  DETAIL = format('Key (conversation_id, dedup_key)=(%s, %s) already exists.',
                                  duplicate.conversation_id, duplicate.dedup_key);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_events_unique_dedup_key_on_insert AFTER INSERT ON analytics_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION analytics_events_unique_dedup_key();
CREATE TRIGGER analytics_events_unique_dedup_key_on_update AFTER UPDATE ON analytics_events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_events_unique_dedup_key();
"""

PARTITION = f"""
SET CONSTRAINTS ALL IMMEDIATE;  -- DROP TABLE refuses a table whose deferred key checks are pending
CREATE TABLE analytics_events_partitioned (LIKE analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)
    PARTITION BY RANGE (occurred_at);
CREATE TABLE analytics_events_default PARTITION OF analytics_events_partitioned DEFAULT;
DO $$
DECLARE
    month timestamp;
BEGIN
    FOR month IN
        SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') FROM analytics_events
        UNION
        SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                               date_trunc('month', now() AT TIME ZONE 'UTC') + interval '{MONTHS_AHEAD} months', interval '1 month')
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF analytics_events_partitioned FOR VALUES FROM (%L) TO (%L)',
            'analytics_events_' || to_char(month, 'YYYY_MM'), month::text || '+00', (month + interval '1 month')::text || '+00'
        );
    END LOOP;
END
$$;
INSERT INTO analytics_events_partitioned SELECT * FROM analytics_events;
SELECT setval(pg_get_serial_sequence('analytics_events_partitioned', 'id'),
              coalesce((SELECT max(id) FROM analytics_events_partitioned), 0) + 1, false);
DROP TABLE analytics_events;
ALTER TABLE analytics_events_partitioned RENAME TO analytics_events;
ALTER SEQUENCE analytics_events_partitioned_id_seq RENAME TO analytics_events_id_seq;
{_INDEXES_AND_KEYS.format(primary_key="id, occurred_at", unique_name="event_unique_dedup_key_occurred_at",
                          unique_columns="conversation_id, dedup_key, occurred_at")}
{_UNIQUE_DEDUP_KEY_TRIGGER}
"""

# Back to one table: the rows of the attached months come along; months detached for retention stay where they are.
UNPARTITION = f"""
SET CONSTRAINTS ALL IMMEDIATE;  -- DROP TABLE refuses a table whose deferred key checks are pending
CREATE TABLE analytics_events_unpartitioned (LIKE analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY);
INSERT INTO analytics_events_unpartitioned SELECT * FROM analytics_events;
SELECT setval(pg_get_serial_sequence('analytics_events_unpartitioned', 'id'),
              coalesce((SELECT max(id) FROM analytics_events_unpartitioned), 0) + 1, false);
DROP TABLE analytics_events;
DROP FUNCTION analytics_events_unique_dedup_key();
ALTER TABLE analytics_events_unpartitioned RENAME TO analytics_events;
ALTER SEQUENCE analytics_events_unpartitioned_id_seq RENAME TO analytics_events_id_seq;
{_INDEXES_AND_KEYS.format(primary_key="id", unique_name="event_unique_dedup_key", unique_columns="conversation_id, dedup_key")}
"""


class Migration(migrations.Migration):

    dependencies = [
        ("analytics", "0014_translatable_names"),
    ]

    operations = [
        migrations.RunSQL(
            PARTITION,
            UNPARTITION,
            state_operations=[
                migrations.RemoveConstraint(model_name="analyticsevent", name="event_unique_dedup_key"),
                migrations.AddConstraint(
                    model_name="analyticsevent",
                    constraint=models.UniqueConstraint(
                        fields=["conversation", "dedup_key", "occurred_at"], name="event_unique_dedup_key_occurred_at"
                    ),
                ),
            ],
        ),
    ]
