"""What interrupt payloads and resume values say, whatever shape an app gave them."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any


def read_resume_outcome(resume: Any) -> tuple[str, str | None, str | None]:
    """Given a resume value, return (approved | rejected | resolved, reviewer, reason)."""
    outcome, reviewer, reason = "resolved", None, None
    if isinstance(resume, bool):
        return ("approved" if resume else "rejected"), None, None
    if isinstance(resume, str):
        word = resume.strip().lower()
        if word in {"approve", "approved", "yes", "accept"}:
            outcome = "approved"
        elif word in {"reject", "rejected", "no", "deny", "denied"}:
            outcome = "rejected"
        return outcome, None, None
    if not isinstance(resume, dict):
        return outcome, None, None
    if isinstance(resume.get("approved"), bool):
        outcome = "approved" if resume["approved"] else "rejected"
    decisions = resume.get("decisions")
    first = decisions[0] if isinstance(decisions, list) and decisions and isinstance(decisions[0], dict) else {}
    if not first and str(resume.get("type", "")).lower() in {"approve", "edit", "reject", "respond"}:
        first = resume  # one decision about one call: the middleware's per_call mode
    if first:
        kind = str(first.get("type", "")).lower()
        # an edit approves the call, with the reviewer's arguments
        outcome = {"approve": "approved", "edit": "approved", "reject": "rejected"}.get(kind, outcome)
    reviewer = resume.get("reviewer") or resume.get("reviewed_by") or first.get("reviewer")
    reason = resume.get("reason") or resume.get("comment") or first.get("message") or first.get("reason")
    return outcome, (str(reviewer) if reviewer else None), (str(reason) if reason else None)


def interrupt_question(value: Any) -> str | None:
    """What the reviewer was asked: the payload's question, or what a stopped run was about to do."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "pending_nodes" in value:
        calls = [call for call in value.get("tool_calls") or [] if isinstance(call, dict)]
        if calls:
            return "; ".join(f"{call.get('name')}({_arguments(call.get('args'))})" for call in calls)
        return f"Run {', '.join(str(node) for node in value['pending_nodes'])}?"
    if isinstance(value, dict):
        for key in ("question", "description", "message"):
            if isinstance(value.get(key), str):
                return value[key]
        # langchain's HumanInTheLoopMiddleware: {"action_requests": [{"name", "args", "description"}, …]}
        requests = value.get("action_requests")
        if isinstance(requests, list) and requests and isinstance(requests[0], dict):
            return "; ".join(str(request.get("description") or request.get("name")) for request in requests if isinstance(request, dict))
    if isinstance(value, list) and value:
        return interrupt_question(value[0])
    return None


def _arguments(args: Any) -> str:
    if not isinstance(args, dict):
        return ""
    return ", ".join(f"{key}={json.dumps(value, default=str, ensure_ascii=False)}" for key, value in args.items())


def named_tools(value: Any) -> frozenset[str]:
    """The tools an interrupt payload says it is about (``{"action": "issue_refund"}``, LangChain's
    ``action_requests``); empty when it names none."""
    if isinstance(value, list):
        return frozenset().union(*(named_tools(item) for item in value)) if value else frozenset()
    if not isinstance(value, dict):
        return frozenset()
    names = {value[key] for key in ("action", "tool", "tool_name") if isinstance(value.get(key), str)}
    request = value.get("action_request")  # Agent Inbox's HumanInterrupt
    if isinstance(request, dict) and isinstance(request.get("action"), str):
        names.add(request["action"])
    requests = value.get("action_requests")
    for request in requests if isinstance(requests, list) else []:
        if isinstance(request, dict) and isinstance(request.get("name"), str):
            names.add(request["name"])
    return frozenset(names)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a stored value (interrupt payloads and resume values can be anything)."""
    try:
        return json.loads(json.dumps(value, default=_fallback_json))
    except (TypeError, ValueError):
        return repr(value)


def _fallback_json(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (datetime, Decimal)):
        return str(value)
    return repr(value)
