"""Replays of threads whose checkpoint rows are damaged: real rows written by real graphs through the
real PostgresSaver, then corrupted with SQL. Every replay shows the good parts, an ``unknown`` step
for each bad part, logs a warning, and the analytics derivation still runs."""

import logging
import pickle
import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from langgraph.checkpoint.base import id as checkpoint_id_module

from analytics.derive import derive_thread
from analytics.models import EventType
from replay.checkpoint_times import checkpoint_id_floor, uuid6_time
from replay.services import get_replay_page, get_timeline
from replay.timeline import StepType, build_timeline
from tests.replay.damaged_threads import execute, rewrite_messages, run_approval_thread, run_weather_turns, strip_times

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)
EXPECTED_WEATHER_SHAPE = [
    ("user_message", None),
    ("tool_call", "get_weather"),
    ("tool_result", "get_weather"),
    ("agent_message", None),
]


def shape(steps):
    return [(step.type.value, step.tool_name) for step in steps]


def unknown_steps(steps):
    return [step for step in steps if step.type == StepType.UNKNOWN]


def warnings_in(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def replay(source, thread_id, caplog=None):
    """The thread's timeline and, to prove the analytics survive it too, its derivation."""
    thread = source.get_thread(thread_id=thread_id)
    steps = build_timeline(thread, now=NOW)
    derived = derive_thread(thread=thread, price_lookup=lambda model, at: None, now=NOW)
    assert len([event for event in derived.events if event.event_type == EventType.UNKNOWN]) == len(unknown_steps(steps))
    return steps


# -- undecodable writes ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("write_type", "blob"),
    [
        ("msgpack", "truncated"),
        # msgpack ignores trailing bytes: random bytes mostly decode to a number (seed 0) or fail (seed 4)
        ("msgpack", random.Random(0).randbytes(96)),
        ("msgpack", random.Random(4).randbytes(96)),
        ("bogus", "keep"),
    ],
    ids=["truncated-msgpack", "random-bytes-number", "random-bytes-undecodable", "unknown-type"],
)
def test_an_undecodable_tool_result_write_is_an_unknown_step_and_the_result_comes_from_the_blob(
    checkpointer, checkpoint_db, checkpoint_source, caplog, write_type, blob
):
    run_weather_turns(checkpointer, "bad-write")
    (original,) = execute(
        checkpoint_db,
        "SELECT blob FROM checkpoint_writes WHERE thread_id = 'bad-write' AND channel = 'messages' AND task_path LIKE '%%tools'",
    )
    new_blob = {"truncated": original[0][: len(original[0]) // 2], "keep": original[0]}.get(blob, blob)
    execute(
        checkpoint_db,
        "UPDATE checkpoint_writes SET type = %s, blob = %s "
        "WHERE thread_id = 'bad-write' AND channel = 'messages' AND task_path LIKE '%%tools'",
        (write_type, new_blob),
    )

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "bad-write")

    # the channel's blob at the next checkpoint still holds the tool's answer
    assert shape(steps) == [
        ("user_message", None), ("tool_call", "get_weather"), ("tool_result", "get_weather"), ("unknown", None),
        ("agent_message", None),
    ]
    assert steps[2].content == "Sunny in Paris" and steps[2].tool_call_id == steps[1].tool_call_id
    assert steps[3].details["raw_type"] == write_type and steps[3].details["reason"]
    assert [step.timestamp for step in steps] == sorted(step.timestamp for step in steps)
    assert any("bad-write" in message and "unreadable messages write" in message for message in warnings_in(caplog))


def test_a_messages_blob_that_is_gone_is_an_unknown_step_and_later_blobs_still_replay(
    checkpointer, checkpoint_db, checkpoint_source, caplog
):
    run_weather_turns(checkpointer, "lost-blob", turns=2, durability="exit")
    # the first turn's messages, as saved when that run exited
    versions = [row[0] for row in execute(
        checkpoint_db,
        "SELECT checkpoint->'channel_versions'->>'messages' FROM checkpoints "
        "WHERE thread_id = 'lost-blob' AND checkpoint ? 'channel_versions' ORDER BY checkpoint_id",
    ) if row[0]]
    execute(checkpoint_db, "DELETE FROM checkpoint_blobs WHERE thread_id = 'lost-blob' AND channel = 'messages' AND version = %s", (versions[0],))

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "lost-blob")

    assert shape(steps) == [("unknown", None), *EXPECTED_WEATHER_SHAPE * 2]
    assert "no blob" in steps[0].details["reason"]
    # the second turn's blob holds the whole conversation, so both turns are there, in order
    assert [step.content for step in steps if step.type == StepType.AGENT_MESSAGE] == [
        "Sunny in Paris (answer 0)", "Sunny in Paris (answer 1)",
    ]
    assert any("lost-blob" in message and "unreadable messages" in message for message in warnings_in(caplog))


# -- checkpoint timestamps ------------------------------------------------------------------------

def two_turn_thread(checkpointer, checkpoint_source, thread_id):
    """A two-turn thread and its timeline before any damage."""
    run_weather_turns(checkpointer, thread_id, turns=2)
    return build_timeline(checkpoint_source.get_thread(thread_id=thread_id), now=NOW)


def test_checkpoints_without_ts_are_dated_and_ordered_by_their_uuid6_ids(checkpointer, checkpoint_db, checkpoint_source, caplog):
    before = two_turn_thread(checkpointer, checkpoint_source, "no-ts")
    execute(checkpoint_db, "UPDATE checkpoints SET checkpoint = checkpoint - 'ts' WHERE thread_id = 'no-ts'")

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "no-ts")

    assert shape(steps) == shape(before) == EXPECTED_WEATHER_SHAPE * 2
    assert all(abs(step.timestamp - then.timestamp) < timedelta(seconds=1) for step, then in zip(steps, before))
    assert [step.timestamp for step in steps] == sorted(step.timestamp for step in steps)
    assert not any(step.details.get("timestamp_unknown") for step in steps)
    assert any("no-ts" in message and "uuid6" in message for message in warnings_in(caplog))


def test_naive_ts_are_read_as_utc(checkpointer, checkpoint_db, checkpoint_source, caplog):
    before = two_turn_thread(checkpointer, checkpoint_source, "naive-ts")
    # every other checkpoint loses its offset, so naive and aware times meet in one thread
    execute(
        checkpoint_db,
        "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', "
        "to_jsonb(regexp_replace(checkpoint->>'ts', '[+-][0-9]{2}:[0-9]{2}$', ''))) "
        "WHERE thread_id = 'naive-ts' AND right(checkpoint_id, 1) < '8'",
    )

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "naive-ts")

    assert [(step.type, step.timestamp, step.latency_ms) for step in steps] == [
        (step.type, step.timestamp, step.latency_ms) for step in before
    ]
    naive = [message for message in warnings_in(caplog) if "naive-ts" in message and "without a time zone" in message]
    assert naive and "checkpoint" in naive[0]


def test_checkpoints_with_neither_ts_nor_uuid6_id_keep_id_order_with_unknown_times(
    checkpointer, checkpoint_db, checkpoint_source, caplog
):
    before = two_turn_thread(checkpointer, checkpoint_source, "no-time")
    strip_times(checkpoint_db, "no-time")

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "no-time")

    assert shape(steps) == shape(before)
    assert all(step.details["timestamp_unknown"] and step.latency_ms is None for step in steps)
    assert [step.checkpoint_id for step in steps] == sorted(step.checkpoint_id for step in steps)
    assert [step.timestamp for step in steps] == sorted(step.timestamp for step in steps)
    assert any("no-time" in message and "unknown" in message for message in warnings_in(caplog))


def test_uuid6_time_reads_back_the_time_langgraph_put_in_a_checkpoint_id():
    moment = datetime(2026, 11, 10, 9, 30, 1, 123456, tzinfo=timezone.utc)
    made = str(checkpoint_id_module.uuid6(clock_seq=3))
    made_at = datetime.now(timezone.utc)

    assert uuid6_time(checkpoint_id_floor(moment)) == moment
    assert timedelta(0) <= made_at - uuid6_time(made) < timedelta(seconds=1)
    assert uuid6_time("step-001") is None
    assert uuid6_time("0b7e5b7c-5bd2-4e0c-9d1d-2c3c4d5e6f70") is None  # a uuid4


# -- fields of the wrong type ---------------------------------------------------------------------

def test_a_message_whose_name_is_a_list_replays(checkpointer, checkpoint_db, checkpoint_source):
    run_weather_turns(checkpointer, "list-name")

    def name_as_list(fields):
        if fields.get("type") == "ai":
            fields["name"] = ["weather", "bot"]

    rewrite_messages(checkpoint_db, "list-name", name_as_list)
    steps = replay(checkpoint_source, "list-name")

    assert shape(steps) == EXPECTED_WEATHER_SHAPE
    assert [step.agent for step in steps[1:]] == ["weather, bot"] * 3


def test_every_field_read_as_text_survives_a_wrong_type(checkpointer, checkpoint_db, checkpoint_source):
    prices = []
    run_weather_turns(checkpointer, "wrong-types")

    def scramble(fields):
        kind = fields.get("type")
        if kind == "human":
            fields["content"] = [{"type": "text", "text": ["weather in", "Paris?"]}, 42, None]
            fields["id"] = 1234
        if kind == "ai" and fields.get("tool_calls"):
            fields["tool_calls"] = [
                {"name": {"tool": "get_weather"}, "id": 7, "args": "Paris"},
                {"name": ["get_weather"], "id": None, "args": None},
                "not a call",
            ]
            fields["usage_metadata"] = {
                "input_tokens": "120", "output_tokens": {"many": True},
                "input_token_details": {"cache_read": "lots", "cache_creation": -5, "ephemeral_5m_input_tokens": [3]},
                "output_token_details": "reasoning",
            }
            fields["response_metadata"] = {"model_name": ["gpt-4o", "mini"]}
        if kind == "ai" and not fields.get("tool_calls"):
            fields["name"] = None
            fields["usage_metadata"] = ["not", "a", "dict"]
            fields["response_metadata"] = {"model_name": {"id": "gpt-4o"}, "model": 4}
        if kind == "tool":
            fields["tool_call_id"] = 7
            fields["name"] = 3.5
            fields["status"] = ["error"]

    rewrite_messages(checkpoint_db, "wrong-types", scramble)
    steps = build_timeline(
        checkpoint_source.get_thread(thread_id="wrong-types"), now=NOW,
        price_lookup=lambda model, at: prices.append(model),
    )
    replay(checkpoint_source, "wrong-types")

    assert [(step.type.value, step.tool_name, step.tool_call_id) for step in steps] == [
        ("user_message", None, None),
        ("tool_call", "", "7"),  # a mapping is no name
        ("tool_call", "get_weather", None),
        ("tool_result", "3.5", "7"),
        ("agent_message", None, None),
    ]
    assert steps[0].content == "weather in, Paris?" and steps[0].details["message_id"] == "1234"
    assert steps[1].tool_args == {"value": "Paris"} and steps[2].tool_args == {}
    assert (steps[1].model, steps[1].input_tokens, steps[1].output_tokens) == ("gpt-4o, mini", 120, 0)
    assert (steps[1].cache_read_tokens, steps[1].cache_write_tokens, steps[1].reasoning_tokens) == (0, 0, 0)
    assert steps[3].status == "error"
    assert steps[4].model == "4" and steps[4].input_tokens == 0
    assert prices == ["gpt-4o, mini", "4"]


# -- a tool-call id reused in a later turn --------------------------------------------------------

@pytest.mark.parametrize("durability", ["async", "exit"])
def test_a_tool_call_id_reused_in_a_later_turn_is_a_new_call_with_its_own_result(checkpointer, checkpoint_source, durability):
    # the model numbers its calls per turn, so both turns call "call_1"; both get the same answer
    run_weather_turns(checkpointer, f"reused-{durability}", turns=2, durability=durability, call_ids=["call_1", "call_1"])

    steps = replay(checkpoint_source, f"reused-{durability}")

    assert shape(steps) == EXPECTED_WEATHER_SHAPE * 2
    calls = [step for step in steps if step.type == StepType.TOOL_CALL]
    results = [step for step in steps if step.type == StepType.TOOL_RESULT]
    assert [step.tool_call_id for step in calls + results] == ["call_1"] * 4
    assert [step.details["message_id"] for step in calls] == ["ai-0-call", "ai-1-call"]
    # each result answers the call of its own turn
    assert calls[0].timestamp <= results[0].timestamp < calls[1].timestamp <= results[1].timestamp
    assert results[0].details["message_id"] != results[1].details["message_id"]
    derived = derive_thread(thread=checkpoint_source.get_thread(thread_id=f"reused-{durability}"), price_lookup=lambda model, at: None, now=NOW)
    assert [event.event_type for event in derived.events].count(EventType.TOOL_RESULT) == 2


# -- interrupts, payloads that must not be loaded, rows that are not checkpoints ------------------

@pytest.mark.parametrize("seed", [0, 4], ids=["decodes-to-a-number", "undecodable"])
def test_an_interrupt_write_of_random_bytes_is_an_unknown_step(checkpointer, checkpoint_db, checkpoint_source, caplog, seed):
    run_approval_thread(checkpointer, "bad-interrupt")
    execute(
        checkpoint_db,
        "UPDATE checkpoint_writes SET blob = %s WHERE thread_id = 'bad-interrupt' AND channel = '__interrupt__'",
        (random.Random(seed).randbytes(64),),
    )

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "bad-interrupt")

    assert shape(steps) == [("user_message", None), ("agent_message", None), ("unknown", None)]
    assert steps[2].details["channel"] == "__interrupt__"
    assert any("bad-interrupt" in message and "__interrupt__" in message for message in warnings_in(caplog))


def test_a_pickle_payload_is_never_loaded(checkpointer, checkpoint_db, checkpoint_source, caplog, tmp_path):
    run_weather_turns(checkpointer, "pickled", durability="exit")
    planted = tmp_path / "loaded-a-pickle"

    class Trap:
        def __reduce__(self):
            return (open, (str(planted), "w"))

    payload = pickle.dumps(Trap())
    execute(checkpoint_db, "UPDATE checkpoint_blobs SET type = 'pickle', blob = %s WHERE thread_id = 'pickled' AND channel = 'messages'", (payload,))
    execute(
        checkpoint_db,
        "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path) "
        "SELECT thread_id, checkpoint_ns, checkpoint_id, 'planted', 0, 'messages', 'pickle', %s, '~__pregel_pull, tools' "
        "FROM checkpoints WHERE thread_id = 'pickled'",
        (payload,),
    )

    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "pickled")
    page = get_replay_page(thread_id="pickled", page=1, page_size=50, price_lookup=None, source=checkpoint_source, now=NOW)

    assert not planted.exists()
    assert steps and all(step.type == StepType.UNKNOWN for step in steps)
    assert all("unsupported stored type 'pickle'" in step.details["reason"] for step in steps)
    assert [step.type for step in page.steps] == [step.type for step in steps]


def test_rows_that_are_not_checkpoints_are_unknown_steps_and_the_rest_replays(checkpointer, checkpoint_db, checkpoint_source, caplog):
    run_weather_turns(checkpointer, "not-checkpoints")
    run_weather_turns(checkpointer, "neighbour")  # read in the same batch
    (first,) = execute(checkpoint_db, "SELECT min(checkpoint_id) FROM checkpoints WHERE thread_id = 'not-checkpoints'")
    execute(checkpoint_db, "UPDATE checkpoints SET checkpoint = '[1, 2]', metadata = '7' WHERE thread_id = 'not-checkpoints' AND checkpoint_id = %s", first)

    with caplog.at_level(logging.WARNING, logger="replay"):
        broken, neighbour = checkpoint_source.get_threads(thread_ids=["not-checkpoints", "neighbour"])
        steps = build_timeline(broken, now=NOW)

    assert shape(steps) == [("unknown", None), *EXPECTED_WEATHER_SHAPE]
    assert steps[0].details["reason"] == "the checkpoint is a JSON array, not an object"
    assert steps[0].checkpoint_id == first[0]
    assert shape(build_timeline(neighbour, now=NOW)) == EXPECTED_WEATHER_SHAPE
    assert any("not-checkpoints" in message and "JSON array" in message for message in warnings_in(caplog))


# -- thread ids as apps spell them ----------------------------------------------------------------

@pytest.mark.parametrize(
    "thread_id",
    ["tenant/42/chat 7", "ticket  with  spaces ", "clienté 顧客 💬", "x" * 300],
    ids=["slashes", "spaces", "unicode", "300-characters"],
)
def test_any_thread_id_reads_and_replays_through_the_services(checkpointer, checkpoint_source, thread_id):
    from analytics.pricing import load_price_lookup

    run_weather_turns(checkpointer, thread_id, turns=2)

    page = get_replay_page(thread_id=thread_id, page=2, page_size=4, price_lookup=load_price_lookup(), source=checkpoint_source, now=NOW)
    timeline = get_timeline(thread_id=thread_id, price_lookup=None, source=checkpoint_source, now=NOW)

    assert page.thread_id == thread_id and page.total_steps == 8 and not page.has_next
    assert shape(page.steps) == EXPECTED_WEATHER_SHAPE
    assert shape(timeline) == EXPECTED_WEATHER_SHAPE * 2


# -- whatever still goes wrong --------------------------------------------------------------------

def test_an_occurrence_that_fails_to_replay_is_one_unknown_step(checkpointer, checkpoint_source, caplog, monkeypatch):
    run_approval_thread(checkpointer, "handler-fails")

    def broken(resume):
        raise RuntimeError("resume reader broke")

    monkeypatch.setattr("replay.approval_steps.read_resume_outcome", broken)
    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "handler-fails")

    assert shape(steps) == [("user_message", None), ("agent_message", None), ("interrupt", None), ("unknown", None)]
    assert "resume reader broke" in steps[3].details["reason"]
    assert steps[2].status == "resolved"
    assert any("handler-fails" in message and "resolution" in message for message in warnings_in(caplog))


def test_a_thread_whose_checkpoints_cannot_be_read_at_all_is_one_unknown_step(checkpointer, checkpoint_source, caplog, monkeypatch):
    run_weather_turns(checkpointer, "reader-fails")

    def broken(thread, **reading):
        raise RuntimeError("reader broke")

    monkeypatch.setattr("replay.timeline.read_occurrences", broken)
    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "reader-fails")

    assert shape(steps) == [("unknown", None)]
    assert "reader broke" in steps[0].details["reason"] and steps[0].timestamp.year > 2000
    assert any("reader-fails" in message for message in warnings_in(caplog))


def test_a_row_that_fails_to_read_is_an_unknown_step_and_the_rest_of_the_thread_is_kept(checkpointer, checkpoint_source, caplog, monkeypatch):
    from replay.stored_values import as_stored_message

    run_weather_turns(checkpointer, "row-fails")

    def fails_on_tool_results(item):
        stored = as_stored_message(item)
        if stored is not None and stored.type == "tool":
            raise RuntimeError("tool result reader broke")
        return stored

    monkeypatch.setattr("replay.occurrences.as_stored_message", fails_on_tool_results)
    with caplog.at_level(logging.WARNING, logger="replay"):
        steps = replay(checkpoint_source, "row-fails")

    readable = [step for step in steps if step.type != StepType.UNKNOWN]
    assert shape(readable) == [("user_message", None), ("tool_call", "get_weather"), ("agent_message", None)]
    assert unknown_steps(steps) and all("tool result reader broke" in step.details["reason"] for step in unknown_steps(steps))
    assert any("row-fails" in message and "could not read messages" in message for message in warnings_in(caplog))


def test_the_replay_api_answers_200_with_unknown_steps_for_a_damaged_thread(checkpointer, checkpoint_db, admin_client):
    run_weather_turns(checkpointer, "damaged/api thread")
    execute(
        checkpoint_db,
        "UPDATE checkpoint_writes SET blob = substring(blob FROM 1 FOR 5) "
        "WHERE thread_id = 'damaged/api thread' AND channel = 'messages' AND task_path LIKE '%%tools'",
    )
    execute(checkpoint_db, "UPDATE checkpoints SET checkpoint = checkpoint - 'ts' WHERE thread_id = 'damaged/api thread'")

    response = admin_client.get("/api/replay/damaged%2Fapi%20thread")

    assert response.status_code == 200
    types = [step["type"] for step in response.json()["steps"]]
    assert "unknown" in types and "user_message" in types and "agent_message" in types
    assert types.count("unknown") == 1
