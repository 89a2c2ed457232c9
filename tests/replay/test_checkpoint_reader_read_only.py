"""The checkpoint reader never writes: the connections it opens are read-only, so CHECKPOINT_DATABASE_URL
may point at a replica of the agent's database."""

import psycopg
import pytest

from replay.checkpoints import PostgresCheckpointSource, read_only_conninfo


def test_the_readers_own_connection_refuses_writes(checkpoint_source):
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        checkpoint_source._connect().execute("DELETE FROM checkpoints")


def test_read_only_keeps_the_options_a_url_gives():
    conninfo = read_only_conninfo("postgresql://reader@replica.internal/agent?options=-c%20statement_timeout%3D5000")

    assert psycopg.conninfo.conninfo_to_dict(conninfo)["options"] == (
        "-c statement_timeout=5000 -c default_transaction_read_only=on"
    )


def test_the_reader_still_reads(checkpoint_db):
    with PostgresCheckpointSource(conninfo=checkpoint_db) as source:
        assert source.missing_tables() == ()
