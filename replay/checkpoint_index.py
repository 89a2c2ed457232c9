"""A thread's checkpoints by namespace and id, each with the time its steps are placed at."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from replay.checkpoint_records import CheckpointRecord
from replay.checkpoint_times import uuid6_time

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class CheckpointIndex:
    """Index of a thread's checkpoints by namespace and id, each with the time its steps are placed at."""

    def __init__(self, records: tuple[CheckpointRecord, ...]) -> None:
        self.by_id = {(record.checkpoint_ns, record.checkpoint_id): record for record in records}
        self.first_child: dict[tuple[str, str], CheckpointRecord] = {}
        self.by_namespace: dict[str, list[CheckpointRecord]] = defaultdict(list)
        for record in records:
            self.by_namespace[record.checkpoint_ns].append(record)
            if record.parent_checkpoint_id:
                self.first_child.setdefault((record.checkpoint_ns, record.parent_checkpoint_id), record)
        # A checkpoint no one can date sits just after the one before it in checkpoint-id order, so
        # its steps keep their order; they are marked as of unknown time.
        self.when: dict[tuple[str, str], datetime] = {}
        self.undated: set[tuple[str, str]] = set()
        last_known, since_known = EPOCH, 0
        for record in sorted(records, key=lambda record: record.checkpoint_id):
            key = (record.checkpoint_ns, record.checkpoint_id)
            if record.ts is not None:
                self.when[key], last_known, since_known = record.ts, record.ts, 0
            else:
                since_known += 1
                self.when[key] = last_known + timedelta(microseconds=since_known)
                self.undated.add(key)

    def ts(self, checkpoint_ns: str, checkpoint_id: str) -> datetime:
        known = self.when.get((checkpoint_ns, checkpoint_id))
        return known or uuid6_time(checkpoint_id) or EPOCH  # a write whose checkpoint row is gone

    def known(self, checkpoint_ns: str, checkpoint_id: str) -> bool:
        key = (checkpoint_ns, checkpoint_id)
        return key not in self.undated and (key in self.when or uuid6_time(checkpoint_id) is not None)

    def latest_within(self, namespace: str) -> datetime | None:
        """The newest time of the checkpoints a subgraph task saved in ``namespace`` and below it."""
        times = [
            self.ts(record.checkpoint_ns, record.checkpoint_id)
            for checkpoint_ns, records in self.by_namespace.items()
            if checkpoint_ns == namespace or checkpoint_ns.startswith(namespace + "|")
            for record in records
        ]
        return max(times, default=None)

    def completed(self, checkpoint_ns: str, checkpoint_id: str) -> tuple[datetime, str]:
        """When the step that started at this checkpoint was saved: its child's timestamp and id, else its own."""
        child = self.first_child.get((checkpoint_ns, checkpoint_id))
        if child is not None:
            return self.ts(checkpoint_ns, child.checkpoint_id), child.checkpoint_id
        return self.ts(checkpoint_ns, checkpoint_id), checkpoint_id
