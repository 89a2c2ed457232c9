"""Agent Inbox's approval convention (langchain-ai's agent-inbox and the email assistants built for it).

An interrupt asks with a list of ``HumanInterrupt`` requests —
``{"action_request": {"action", "args"}, "config": {"allow_accept", …}, "description"}`` — and is resumed
with one ``HumanResponse`` per request: ``{"type": "accept" | "edit" | "ignore" | "response", "args": …}``,
``args`` being None, the reviewer's text (``response``) or the edited action request (``edit``).
"""

from __future__ import annotations

import json
from typing import Any

# accept and edit let the action run (an edit with the reviewer's arguments); ignore and response stop it
RESPONSE_OUTCOMES = {"accept": "approved", "edit": "approved", "ignore": "rejected", "response": "rejected"}


def inbox_requests(value: Any) -> list[dict[str, Any]]:
    """The HumanInterrupt requests of an interrupt value (one request or a list of them); [] for any other value."""
    items = value if isinstance(value, list) else [value]
    requests = [item for item in items if isinstance(item, dict) and isinstance(item.get("action_request"), dict)]
    return requests if requests and len(requests) == len(items) else []


def inbox_question(value: Any) -> str | None:
    """What the reviewer was asked: each requested action with its arguments (``write_email(to="…")``)."""
    requests = inbox_requests(value)
    if not requests:
        return None
    return "; ".join(_call_text(request["action_request"]) for request in requests)


def inbox_descriptions(value: Any) -> list[str]:
    """The descriptions shown to the reviewer with each request (kept beside the question)."""
    return [request["description"] for request in inbox_requests(value) if isinstance(request.get("description"), str)]


def inbox_responses(resume: Any) -> list[dict[str, Any]]:
    """The HumanResponses of a resume value (a list of them, or one); [] when it is not Agent Inbox's."""
    items = resume if isinstance(resume, list) else [resume]
    responses = [item for item in items if isinstance(item, dict) and str(item.get("type", "")).lower() in RESPONSE_OUTCOMES]
    return responses if responses and len(responses) == len(items) else []


def read_inbox_outcome(resume: Any) -> tuple[str, str | None, str | None] | None:
    """Given a resume value, return (approved | rejected, reviewer, reason), or None when it is not a list of
    HumanResponses. One response ignored or answered is a rejection; the texts answered are the reason."""
    responses = inbox_responses(resume)
    if not responses:
        return None
    outcomes = [RESPONSE_OUTCOMES[str(response["type"]).lower()] for response in responses]
    outcome = "rejected" if "rejected" in outcomes else "approved"
    texts = [response["args"] for response in responses if isinstance(response.get("args"), str) and response["args"]]
    return outcome, None, "; ".join(texts) or None


def inbox_edits(resume: Any) -> list[dict[str, Any]]:
    """The action requests an ``edit`` response gave back, ``{"action", "args"}``: what the reviewer let run."""
    return [
        response["args"]
        for response in inbox_responses(resume)
        if str(response["type"]).lower() == "edit" and isinstance(response.get("args"), dict)
        and isinstance(response["args"].get("args"), dict)
    ]


def requested_args(value: Any) -> list[dict[str, Any]]:
    """The arguments of each requested action, to tell apart two calls of the same tool."""
    return [request["action_request"]["args"] for request in inbox_requests(value) if isinstance(request["action_request"].get("args"), dict)]


def _call_text(request: dict[str, Any]) -> str:
    args = request.get("args")
    arguments = ", ".join(
        f"{key}={json.dumps(value, default=str, ensure_ascii=False)}" for key, value in args.items()
    ) if isinstance(args, dict) else ""
    return f"{request.get('action')}({arguments})"
