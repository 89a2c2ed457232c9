"""The whole path a new user takes with a tutorial-style app: run inspect_checkpoints, paste the settings
it proposes (and nothing else), backfill — and the replay and the conversation rows are exact."""

import shlex

import time_machine
from django.core.management import call_command

from replay.inspection import READING_SETTINGS, inspect_checkpoints
from replay.timeline import build_timeline
from tests.analytics.test_tutorial_numbers import ROWS, conversation_rows
from tests.apps.tutorial_conversations import NOW, THREADS, run_tutorial_threads
from tests.replay.test_tutorial_timeline import EXPECTED, shape

KEYS = dict(READING_SETTINGS)


def as_setting(variable: str, value: str):
    """What the SMART_SUPPORT entry holds once the proposed environment line is pasted."""
    value = shlex.split(value)[0] if value else ""
    if KEYS[variable] == "ACTIVE_AGENT_CHANNEL":
        return value
    if KEYS[variable] == "TOOL_ERROR_PATTERNS":
        return [value]
    return [item for item in value.split(",") if item]


def test_the_settings_inspect_checkpoints_proposes_read_the_tutorial_app_exactly(settings, checkpointer, checkpoint_source):
    run_tutorial_threads(checkpointer)

    with time_machine.travel(NOW, tick=False):
        proposed = {advice.setting: advice.value for advice in inspect_checkpoints(threads=50).advice}
    settings.SMART_SUPPORT = {
        **settings.SMART_SUPPORT, **{KEYS[variable]: as_setting(variable, value) for variable, value in proposed.items()}
    }

    assert "SMART_SUPPORT_ROUTING_TOOLS" in proposed
    with time_machine.travel(NOW, tick=False):
        assert inspect_checkpoints(threads=50).advice == ()  # nothing left to propose
        for thread in THREADS:
            steps = build_timeline(checkpoint_source.get_thread(thread_id=thread.thread_id), now=NOW)
            assert shape(steps) == EXPECTED[thread.thread_id], (thread.thread_id, proposed)
    with time_machine.travel(NOW, tick=True):
        call_command("backfill_events", verbosity=0)
    assert conversation_rows() == ROWS
