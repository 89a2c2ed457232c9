"""Which threads a sharded sync (``backfill_events --shard i/n``) derives: shard ``i`` of ``n`` holds the
threads whose id's md5, its first 32 bits read as a number, leaves ``i`` when divided by ``n``.

The shard is decided in SQL by the database holding the rows asked about (the checkpoints, the
conversations), from this one template: md5 is core PostgreSQL (the embedded server has no contrib
extensions) and the same on every machine and in every process, unlike Python's salted ``hash()`` or
PostgreSQL's ``hashtext``, which its releases are free to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BigIntegerField, F, Func, Q
from django.db.models.lookups import Exact

# ``{thread_id}``: a column or expression of text; ``{count}``: the number of shards (an int, never input text)
SHARD_OF_THREAD_SQL = "mod(('x' || left(md5({thread_id}), 8))::bit(32)::bigint, {count})"
MOST_SHARDS = 1000
_ACCEPTED = f"must be i/n with n from 1 to {MOST_SHARDS} and i from 0 to n-1 (e.g. 0/3, 1/3, 2/3)"


@dataclass(frozen=True)
class ThreadShard:
    """Shard ``index`` (from 0) of ``count``; ``ALL_THREADS`` (0 of 1) is an unsharded run."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (1 <= self.count <= MOST_SHARDS and 0 <= self.index < self.count):
            raise ValueError(f"{_ACCEPTED}; got '{self}'")

    @classmethod
    def parse(cls, value: str) -> ThreadShard:
        """Given ``"1/3"``, return shard 1 of 3; a ValueError says what is accepted."""
        index, slash, count = value.partition("/")
        if not (slash and index.isdecimal() and count.isdecimal()):
            raise ValueError(f"{_ACCEPTED}; got {value!r}")
        return cls(index=int(index), count=int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def is_all(self) -> bool:
        return self.count == 1

    def condition_sql(self, *, thread_id: str) -> str:
        """SQL that is true for the rows whose ``thread_id`` (a column or expression) is in this shard."""
        if self.is_all:
            return "true"  # an unsharded run hashes nothing
        return f"{SHARD_OF_THREAD_SQL.format(thread_id=thread_id, count=self.count)} = {self.index}"

    def holds(self, *, field: str = "thread_id") -> Exact | Q:
        """The same condition for the ORM: ``Conversation.objects.filter(shard.holds())``."""
        if self.is_all:
            return Q()
        shard_of = Func(
            F(field), template=SHARD_OF_THREAD_SQL.format(thread_id="%(expressions)s", count=self.count),
            output_field=BigIntegerField(),
        )
        return Exact(shard_of, self.index)


ALL_THREADS = ThreadShard(index=0, count=1)
