"""Which well-known conventions a sample's checkpoints follow, counted as stored (not as the replay read
them): Agent Inbox requests and responses, LangChain's summaries, approvers' edits, structured answers,
Functional API runs and Send fan-outs. ``inspect_checkpoints`` prints the counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from replay.checkpoints import INTERRUPT_CHANNEL, MESSAGES_CHANNEL, RESUME_CHANNEL, ThreadCheckpoints
from replay.functional_runs import RETURN_CHANNEL, messages_in
from replay.inspection_reads import WriteCount
from replay.task_paths import parse_task_path

AGENT_INBOX_REQUESTS = "Agent Inbox requests (interrupts asking action_request/config/description)"
AGENT_INBOX_RESPONSES = "Agent Inbox responses (resumes of accept/edit/ignore/response)"
SUMMARIES = "summaries (HumanMessage with lc_source=summarization)"
REWRITTEN_REPLIES = "AI messages rewritten under the same id (an approver's edit)"
STRUCTURED_ANSWERS = "structured answers (structured_response writes)"
TASK_RESULTS = "Functional API task results (__return__ writes)"
SEND_TASKS = "Send tasks (writes by a task a Send started)"

HUMAN_RESPONSE_TYPES = frozenset({"accept", "edit", "ignore", "response"})
STRUCTURED_RESPONSE_CHANNEL = "structured_response"


def count_conventions(threads: Iterable[ThreadCheckpoints], write_counts: Iterable[WriteCount]) -> Counter:
    """Given the sample's threads and its per-channel write counts, how often each convention is stored."""
    found: Counter = Counter()
    for count in write_counts:
        if count.channel == STRUCTURED_RESPONSE_CHANNEL:
            found[STRUCTURED_ANSWERS] += count.count
        path = parse_task_path(count.task_path)
        if path is not None and path.send_index is not None and not path.is_call:
            found[SEND_TASKS] += count.count
    for thread in threads:
        _count_thread(thread, found)
    return +found  # conventions not seen are left out


def _count_thread(thread: ThreadCheckpoints, found: Counter) -> None:
    replies: dict[str, Any] = {}  # by message id: what the first copy asked
    summaries: set[str] = set()
    interrupt_ids: set[Any] = set()
    answered_at: set[tuple[str, str]] = set()
    for write in thread.writes:
        value = write.decoded.value if write.decoded.error is None else None
        if write.channel == INTERRUPT_CHANNEL:
            for item in value if isinstance(value, (list, tuple)) else [value]:
                payload = item.get("value") if isinstance(item, dict) else getattr(item, "value", None)
                item_id = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
                if _is_human_interrupt(payload) and (item_id is None or item_id not in interrupt_ids):
                    found[AGENT_INBOX_REQUESTS] += 1
                    interrupt_ids.add(item_id)
        elif write.channel == RESUME_CHANNEL and _is_human_response(value):
            answered_at.add((write.checkpoint_ns, write.checkpoint_id))  # written for the run and for its task
        elif write.channel == RETURN_CHANNEL:
            found[TASK_RESULTS] += 1
        if write.channel != MESSAGES_CHANNEL:
            continue
        for message in messages_in(value):
            if message.type == "human" and message.id and _is_summary(message.fields):
                summaries.add(message.id)
            elif message.type == "ai" and message.id:
                asked = (message.text, [(call.name, call.args) for call in message.tool_calls])
                first = replies.setdefault(message.id, asked)
                if first != asked and first is not None:
                    found[REWRITTEN_REPLIES] += 1
                    replies[message.id] = None  # counted once
    found[SUMMARIES] += len(summaries)
    found[AGENT_INBOX_RESPONSES] += len(answered_at)


def _is_human_interrupt(payload: Any) -> bool:
    requests = payload if isinstance(payload, list) else [payload]
    return bool(requests) and all(
        isinstance(request, dict) and isinstance(request.get("action_request"), dict) and "config" in request
        for request in requests
    )


def _is_human_response(value: Any) -> bool:
    responses = value if isinstance(value, list) else [value]
    # a task-level resume wraps the value in a list once more
    if len(responses) == 1 and isinstance(responses[0], list):
        responses = responses[0]
    return bool(responses) and all(
        isinstance(response, dict) and response.get("type") in HUMAN_RESPONSE_TYPES and "args" in response
        for response in responses
    )


def _is_summary(fields: dict[str, Any]) -> bool:
    extra = fields.get("additional_kwargs")
    return isinstance(extra, dict) and extra.get("lc_source") == "summarization"
