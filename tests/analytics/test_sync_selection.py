"""Which threads a backfill or a live pass derives again: a failed thread holds back neither its batch nor
the next pass, and approvals are judged expired at the pass's own clock, only once past their TTL."""

from datetime import timedelta

from django.core.management import call_command

from analytics.derive import derive_thread
from analytics.models import FailedThread
from analytics.recorder import PostgresAnalyticsRecorder
from analytics.storage import delete_conversations
from analytics.sync import sync_recent
from replay.checkpoints import PostgresCheckpointSource
from replay.models import Conversation, ConversationStatus
from tests.analytics.test_backfill import STARTED_AT, five_threads  # noqa: F401 - a fixture

REFUND_PENDING = 3  # five_threads' index of the conversation left waiting for an approval


def derive_failing_for(monkeypatch, thread_id: str) -> None:
    def derive_with_a_bug(*, thread, **options):
        if thread.thread_id == thread_id:
            raise ValueError("a bug only this thread reaches")
        return derive_thread(thread=thread, **options)

    monkeypatch.setattr("analytics.sync.derive_thread", derive_with_a_bug)


def test_a_thread_failed_at_its_head_does_not_hold_back_the_rest_of_its_batch(five_threads, monkeypatch):
    oldest = five_threads[0].thread_id  # the first of the batch: heads come oldest first
    derive_failing_for(monkeypatch, oldest)
    call_command("backfill_events", verbosity=0)
    delete_conversations(Conversation.objects.all())  # as if the other four had never been derived

    call_command("backfill_events", verbosity=0)

    assert set(Conversation.objects.values_list("thread_id", flat=True)) == {plan.thread_id for plan in five_threads[1:]}
    assert FailedThread.objects.get().attempts == 1


def test_a_live_pass_does_not_retry_a_thread_that_failed_at_its_newest_checkpoint(five_threads, monkeypatch):
    broken = five_threads[1].thread_id
    derive_failing_for(monkeypatch, broken)
    recorder = PostgresAnalyticsRecorder()

    with PostgresCheckpointSource() as source:
        _, first = sync_recent(source=source, recorder=recorder, watermark="", now=STARTED_AT + timedelta(hours=6))
        _, again = sync_recent(source=source, recorder=recorder, watermark="", now=STARTED_AT + timedelta(hours=6))

    assert (first.threads, first.failed) == (4, 1)
    assert (again.threads, again.failed) == (0, 0)
    assert FailedThread.objects.get(thread_id=broken).attempts == 1


def test_a_live_pass_judges_a_pending_approval_at_its_own_clock(five_threads):
    pending = five_threads[REFUND_PENDING].thread_id
    recorder = PostgresAnalyticsRecorder()

    with PostgresCheckpointSource() as source:
        sync_recent(source=source, recorder=recorder, watermark="", now=STARTED_AT + timedelta(hours=6))
        within_ttl = Conversation.objects.get(thread_id=pending).status
        Conversation.objects.filter(thread_id=pending).update(synced_at=None, last_checkpoint_id="")  # changed since
        sync_recent(source=source, recorder=recorder, watermark="", now=STARTED_AT + timedelta(days=3))
        past_ttl = Conversation.objects.get(thread_id=pending).status

    assert within_ttl == ConversationStatus.AWAITING_APPROVAL
    assert past_ttl != ConversationStatus.AWAITING_APPROVAL


def test_a_quiet_live_pass_rederives_only_the_approvals_past_their_ttl(five_threads):
    recorder = PostgresAnalyticsRecorder()
    with PostgresCheckpointSource() as source:
        watermark, _ = sync_recent(source=source, recorder=recorder, watermark="", now=STARTED_AT + timedelta(hours=6))
        # two conversations waiting for an approval: one asked an hour before the pass, one three days before
        pass_time = STARTED_AT + timedelta(hours=7)
        Conversation.objects.filter(thread_id=five_threads[0].thread_id).update(
            status=ConversationStatus.AWAITING_APPROVAL, newest_pending_interrupt_at=pass_time - timedelta(hours=1),
        )
        Conversation.objects.filter(thread_id=five_threads[2].thread_id).update(
            status=ConversationStatus.AWAITING_APPROVAL, newest_pending_interrupt_at=pass_time - timedelta(days=3),
        )

        _, quiet = sync_recent(source=source, recorder=recorder, watermark=watermark, now=pass_time)

    assert quiet.threads == 1
    assert Conversation.objects.get(thread_id=five_threads[2].thread_id).status != ConversationStatus.AWAITING_APPROVAL


def test_a_thread_derived_exactly_its_settle_time_after_its_newest_checkpoint_is_not_derived_again():
    """The settle time is the wait for late writes: derived that long after the newest checkpoint is settled,
    a microsecond sooner is not."""
    from analytics.sync import SETTLE_TIME, is_derived
    from replay.checkpoint_times import checkpoint_id_floor

    head = checkpoint_id_floor(STARTED_AT)

    assert is_derived(head=head, derived_head=head, derived_at=STARTED_AT + SETTLE_TIME)
    assert not is_derived(head=head, derived_head=head, derived_at=STARTED_AT + SETTLE_TIME - timedelta(microseconds=1))
