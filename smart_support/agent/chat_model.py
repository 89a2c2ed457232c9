"""A scripted stand-in for an LLM: real langchain-core chat model, no network, no keys.

Replies come from a ``reply_for`` callable given the agent name and the messages the model sees,
so a test or the simulator decides every turn deterministically. Each reply carries the
``usage_metadata`` and ``response_metadata["model_name"]`` a real provider would report, with
token counts derived from the text the model read and wrote.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable

ReplyFor = Callable[[str, Sequence[BaseMessage]], AIMessage]

# What a real request costs beyond the visible messages: system prompt, tool schemas, formatting.
PROMPT_OVERHEAD_TOKENS = 180
TOKENS_PER_TOOL_SCHEMA = 45
TOKENS_PER_TOOL_CALL = 22
# OpenAI's automatic prompt caching: prompts from this long on, in steps of this many tokens.
PROMPT_CACHE_MIN_TOKENS = 1024
PROMPT_CACHE_STEP_TOKENS = 128


def estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer makes of English text: four characters a token."""
    return max(1, (len(text) + 3) // 4)


def _message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)


class ScriptedChatModel(BaseChatModel):
    """A chat model whose every reply is chosen by ``reply_for(agent_name, messages)``."""

    agent_name: str
    model_name: str
    reply_for: ReplyFor
    bound_tool_count: int = 0
    # as OpenAI does unasked: a long prompt's start, already sent in the previous call, is read from the cache
    caches_prompts: bool = False

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Runnable:
        return self.model_copy(update={"bound_tool_count": len(tools)})

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        reply = self.reply_for(self.agent_name, messages)
        input_tokens = (
            PROMPT_OVERHEAD_TOKENS
            + self.bound_tool_count * TOKENS_PER_TOOL_SCHEMA
            + sum(estimate_tokens(_message_text(message)) for message in messages)
        )
        output_tokens = estimate_tokens(_message_text(reply)) + TOKENS_PER_TOOL_CALL * len(reply.tool_calls)
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}
        cache_read = self._cached_prefix_tokens(messages, input_tokens=input_tokens)
        if cache_read:
            usage["input_token_details"] = {"cache_read": cache_read}
        message = reply.model_copy(
            update={
                "usage_metadata": usage,
                "response_metadata": {**reply.response_metadata, "model_name": self.model_name},
            }
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _cached_prefix_tokens(self, messages: list[BaseMessage], *, input_tokens: int) -> int:
        return _cached_prefix_tokens_of(messages, input_tokens=input_tokens) if self.caches_prompts else 0


def _cached_prefix_tokens_of(messages: list[BaseMessage], *, input_tokens: int) -> int:
    """The prompt up to this model's previous reply was sent before: that much, in whole cache steps, is
    read from the cache once the prompt is long enough to be cached at all."""
    if input_tokens < PROMPT_CACHE_MIN_TOKENS:
        return 0
    previous_reply = max((position for position, message in enumerate(messages) if isinstance(message, AIMessage)), default=None)
    if previous_reply is None:
        return 0
    new_tokens = sum(estimate_tokens(_message_text(message)) for message in messages[previous_reply + 1:])
    prefix = input_tokens - new_tokens
    return prefix // PROMPT_CACHE_STEP_TOKENS * PROMPT_CACHE_STEP_TOKENS if prefix >= PROMPT_CACHE_MIN_TOKENS else 0


def replies_in_order(replies: Iterable[AIMessage]) -> ReplyFor:
    """A ``reply_for`` that hands out the given replies one per call, whoever asks."""
    queue = deque(replies)
    counter = itertools.count()

    def reply_for(agent_name: str, messages: Sequence[BaseMessage]) -> AIMessage:
        if not queue:
            return AIMessage(content="Is there anything else I can help you with?", id=f"fallback-{next(counter)}")
        return queue.popleft()

    return reply_for
