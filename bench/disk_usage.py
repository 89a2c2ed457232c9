"""What the benchmark database takes on disk, table by table (indexes and TOAST included), as tab-separated lines."""

from __future__ import annotations

from dataset import ensure_database

from common import setup_django

TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "conversations", "analytics_events")


def main() -> None:
    setup_django()
    ensure_database()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"database\t{cursor.fetchone()[0]}")
        for table in TABLES:
            cursor.execute(
                # a partitioned table's size is its partitions'
                "SELECT pg_size_pretty(coalesce(sum(pg_total_relation_size(tree.relid)), 0)) "
                "FROM (SELECT relid FROM pg_partition_tree(%s::regclass) UNION SELECT %s::regclass) AS tree",
                [table, table],
            )
            size = cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM {table}")  # exact: estimates lag behind a rebuild's churn
            rows = cursor.fetchone()[0]
            print(f"{table}\t{size} ({rows:,} rows)")


if __name__ == "__main__":
    main()
