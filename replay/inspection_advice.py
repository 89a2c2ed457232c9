"""The settings that would change how a sample of threads is read, each with what was seen.

Every proposal names the whole value to paste (what is set now plus what was found), so pasting it
never drops a setting already in force. Nothing is proposed for what the timeline already recognises.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

from django.utils.translation import gettext

from replay.inspection_report import SettingAdvice
from replay.inspection_tally import Tally

# Tool names that read like handing the customer to a person.
ESCALATION_LOOKING = re.compile(
    r"escalat|human|operator|live[_\s-]?agent|(hand[_\s-]?off|transfer)[_\s-]?to[_\s-]?(a[_\s-]?)?(person|staff|support)",
    re.IGNORECASE,
)
MOST_EVIDENCE = 3


def advise(*, tally: Tally, reading: dict[str, Any]) -> tuple[SettingAdvice, ...]:
    """Given what a sample held and the settings in force, return the settings that would read it better."""
    routing = _routing_tools(tally, reading)
    proposals = [
        routing,
        _router_targets(tally, reading),
        _active_agent_channel(tally, reading),
        _tool_error_patterns(tally, reading),
        _escalation_tools(tally, reading, routing_tools=set(routing.value.split(",")) if routing else set()),
    ]
    return tuple(proposal for proposal in proposals if proposal is not None)


def _joined(current: list[str], found: list[str]) -> str:
    return ",".join([*current, *(name for name in found if name not in current)])


def _routing_tools(tally: Tally, reading: dict[str, Any]) -> SettingAdvice | None:
    """Tools read as tool calls whose answer comes from a node that is not a tool node, after which
    another node replies: they route the conversation, as LangGraph's customer-support tutorial's do."""
    found, evidence = [], []
    for name, tool in sorted(tally.tools.items()):
        if tool.read_as.get("tool_call", 0) == 0 or tool.node_changed_after <= tool.caller_went_on:
            continue
        if any(place in tally.tool_nodes for place in tool.answered_by):
            continue
        found.append(name)
        answered_by = ", ".join(place for place, _ in tool.answered_by.most_common(MOST_EVIDENCE))
        change, _ = tool.changes.most_common(1)[0]
        evidence.append(gettext("%(tool)s: %(calls)d calls answered by %(nodes)s; then %(change)s") % {
            "tool": name, "calls": tool.calls, "nodes": answered_by, "change": change,
        })
    if not found:
        return None
    return SettingAdvice(
        setting="SMART_SUPPORT_ROUTING_TOOLS",
        value=_joined(list(reading["ROUTING_TOOLS"]), found),
        reason=gettext("these tools are called and answered by nodes that are not tool nodes, and the agent/node changes right after"),
        evidence=tuple(evidence),
    )


def _router_targets(tally: Tally, reading: dict[str, Any]) -> SettingAdvice | None:
    """Agent nodes that take the conversation over from another agent node within one run, with no
    handoff tool, routing tool or agent channel between: a router sent it there."""
    targets: Counter = Counter()
    evidence = []
    for (source, target), count in tally.transitions.most_common():
        if target in reading["ROUTER_TARGETS"]:
            continue
        targets[target] += count
        if len(evidence) < MOST_EVIDENCE:
            evidence.append(gettext("%(source)s → %(target)s: %(count)d times") % {"source": source, "target": target, "count": count})
    if not targets:
        return None
    return SettingAdvice(
        setting="SMART_SUPPORT_ROUTER_TARGETS",
        value=_joined(list(reading["ROUTER_TARGETS"]), sorted(targets)),
        reason=gettext("these nodes receive the conversation from other agent nodes with no handoff tool or channel in between"),
        evidence=tuple(evidence),
    )


def _names_a_node(value: Any, nodes: set[str]) -> bool:
    if isinstance(value, str):
        return value in nodes
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) for item in value) and value[-1] in nodes


def _active_agent_channel(tally: Tally, reading: dict[str, Any]) -> SettingAdvice | None:
    """When the configured channel is never stored: a channel whose value (or a list's last item) names a node."""
    configured = reading["ACTIVE_AGENT_CHANNEL"]
    if configured in tally.channel_threads:
        return None
    candidates = []
    for channel, values in tally.channel_values.items():
        naming = [value for value in values if _names_a_node(value, tally.nodes)]
        if naming:
            lists = any(isinstance(value, list) for value in naming)
            candidates.append((len(tally.channel_threads[channel]), lists, channel, naming[-1]))
    if not candidates:
        return None
    threads, lists, channel, example = max(candidates)
    kind = gettext("a list-valued channel whose last item names a node") if lists else gettext("a channel whose value names a node")
    return SettingAdvice(
        setting="SMART_SUPPORT_ACTIVE_AGENT_CHANNEL",
        value=channel,
        reason=gettext("%(kind)s; %(channel)s is never stored") % {"kind": kind, "channel": configured or gettext("the configured channel")},
        evidence=(gettext("%(channel)s = %(example)s (in %(threads)d threads)") % {"channel": channel, "example": repr(example), "threads": threads},),
    )


def _escaped(text: str) -> str:
    return re.escape(text).replace("\\ ", " ")  # a space needs no escape outside verbose mode


def _error_template(contents: list[str]) -> str:
    """A regular expression for error messages of one shape: their opening (``Error:``) and, when several
    share it, the last words of their common ending (``please fix your mistakes.``)."""
    first_line = contents[0].split("\n")[0]
    head = first_line.split(":")[0] + ":" if ":" in first_line[:40] else first_line.split()[0]
    ending = os.path.commonprefix([content[::-1] for content in contents])[::-1].split() if len(contents) > 1 else []
    words = ending[1:] if len(ending) > 1 else []  # the first may be cut mid-word
    if len(" ".join(words)) < 8:
        return r"\A" + _escaped(head)
    return r"\A" + _escaped(head) + r".*" + _escaped(" ".join(words[-4:])) + r"\s*\Z"


def _tool_error_patterns(tally: Tally, reading: dict[str, Any]) -> SettingAdvice | None:
    """Tool messages read as successes whose content reads like an error."""
    if not tally.error_looking:
        return None
    by_head: dict[str, list[str]] = {}
    for _, content in tally.error_looking:
        head = content.strip().split(":")[0].split("\n")[0][:40]
        by_head.setdefault(head, []).append(content.strip())
    patterns = [_error_template(contents) for _, contents in sorted(by_head.items())]
    current = [f"(?:{pattern})" for pattern in reading["TOOL_ERROR_PATTERNS"]]
    # One regular expression (the setting holds one): what is matched now, or these.
    value = "|".join([*current, *(f"(?:{pattern})" for pattern in patterns)]) if current or len(patterns) > 1 else patterns[0]
    tools = Counter(tool for tool, _ in tally.error_looking)
    return SettingAdvice(
        setting="SMART_SUPPORT_TOOL_ERROR_PATTERNS",
        value=value,
        reason=gettext("tool messages whose content looks like an error template not matched (read as successes now)"),
        evidence=tuple(
            gettext("%(tool)s: %(count)d results like %(example)s") % {"tool": tool, "count": count, "example": repr(_first_line(content))}
            for (tool, count), content in zip(tools.most_common(MOST_EVIDENCE), _examples(tally, tools))
        ),
    )


def _examples(tally: Tally, tools: Counter) -> list[str]:
    first = {}
    for tool, content in tally.error_looking:
        first.setdefault(tool, content)
    return [first[tool] for tool, _ in tools.most_common(MOST_EVIDENCE)]


def _first_line(content: str) -> str:
    line = content.strip().split("\n")[0]
    return line if len(line) <= 80 else line[:79] + "…"


def _escalation_tools(tally: Tally, reading: dict[str, Any], *, routing_tools: set[str]) -> SettingAdvice | None:
    """Tools named like a handover to a person that are read as ordinary tool calls."""
    found = sorted(
        name for name, tool in tally.tools.items()
        if ESCALATION_LOOKING.search(name) and tool.read_as.get("tool_call", 0) and name not in routing_tools
    )
    if not found:
        return None
    return SettingAdvice(
        setting="SMART_SUPPORT_ESCALATION_TOOLS",
        value=_joined(list(reading["ESCALATION_TOOLS"]), found),
        reason=gettext("these tools are named like a handover to a human but are read as ordinary tool calls"),
        evidence=tuple(
            gettext("%(tool)s: %(calls)d calls") % {"tool": name, "calls": tally.tools[name].calls} for name in found[:MOST_EVIDENCE]
        ),
    )
