"""Chat conversations: the transcript, its editing, its token budget, its exports.

A ``Conversation`` is a system text plus a transcript of ``Message`` objects. Everything
the Chat page does to it is a method here (edit, delete, change a role, insert by hand,
regenerate the last reply, branch, pick one of several choices), so the page only reads
widgets and calls them.

The API remembers nothing between requests: the whole transcript is sent every time and
must fit in the model's context with room for the reply. ``fit`` decides what is sent: all
of it, or, when the policy allows, the transcript without its oldest turns (never the
system text, never the newest turn); otherwise it refuses with ``ContextTooLong``.

Tokens are counted by the server when it has a tokenizer endpoint (the local server's
``POST /tokenize``: exact, chat template included) and estimated at about four characters
per token otherwise. Every count says which it is.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from playground import errors, logprobs
from playground.connection import Connection, client_for
from playground.messages import ROLES
from playground.params import spec
from playground.runner import RunResult
from playground.tokens import estimate_tokens

FORMAT_VERSION = 1
TITLE_CHARS = 60

# OpenAI's published rule for its chat format: each message costs about 3 tokens of
# framing, and 3 more prime the reply. Used only when the server cannot count.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
# The settings that shape a reply's distribution, recorded on it.
SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty")

Policy = Literal["refuse", "drop_oldest"]
POLICIES: dict[str, str] = {
    "refuse": "Refuse to send",
    "drop_oldest": "Drop the oldest turns",
}


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Message:
    """One message of the transcript, with what is known about how it came to be.

    ``tokens`` counts the content alone (None: not counted yet); the reply fields
    (latency, ``prompt_tokens`` the server reported, ...) are set on generated replies.
    ``reasoning_tokens`` are the hidden ones a reasoning model spent (counted in ``tokens``
    and billed as output).
    ``dropped`` lists the ids of messages left out of the request that produced this reply.
    A reply records the sampling settings it was made with (``sampled_with``): temperature,
    top_p and the penalties as sent, else the API's defaults, and logit_bias as sent; they
    are None on replies saved before they were recorded.
    """

    role: str
    content: str
    id: str = field(default_factory=_new_id)
    tokens: int | None = None
    tokens_exact: bool = False
    model: str | None = None
    latency: float | None = None
    time_to_first_token: float | None = None
    prompt_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    incomplete: bool = False
    error: str | None = None
    logprobs: list[dict] | None = None
    dropped: list[str] = field(default_factory=list)
    edited: bool = False
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    def to_api(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items()
                if value is not None and value is not False and value != []}

    @classmethod
    def from_dict(cls, data: Any) -> Message:
        """A message from stored data; raises ``ValueError`` unless it has a role and text.

        Any other field of the wrong type is dropped rather than trusted: a damaged file
        must not break the page that draws it.
        """
        if not isinstance(data, dict) or data.get("role") not in ROLES:
            raise ValueError(f"not a chat message: {data!r:.80}")
        if not isinstance(data.get("content"), str):
            raise ValueError("a message's content must be text")
        kept = {name: value for name, value in data.items()
                if name in _FIELD_TYPES and _is_a(value, _FIELD_TYPES[name])}
        message = cls(**kept)
        message.dropped = [str(i) for i in message.dropped]
        return message


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "role": str, "content": str, "id": str, "tokens": int, "tokens_exact": bool,
    "model": str, "latency": (int, float), "time_to_first_token": (int, float),
    "prompt_tokens": int, "reasoning_tokens": int, "finish_reason": str, "incomplete": bool,
    "error": str, "logprobs": list, "dropped": list, "edited": bool,
    **dict.fromkeys(SAMPLING, (int, float)), "logit_bias": dict,
}


def _is_a(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance`` where a bool is not a number."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


@dataclass
class Conversation:
    """The system text, the transcript, and any choices waiting for the user to pick one."""

    id: str = field(default_factory=_new_id)
    title: str = ""
    system: str = ""
    messages: list[Message] = field(default_factory=list)
    choices: list[Message] = field(default_factory=list)
    model: str | None = None
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    branched_from: str | None = None

    # -- reading ---------------------------------------------------------------------
    @property
    def display_title(self) -> str:
        """The title, else the start of the first user message, else "New conversation"."""
        if self.title.strip():
            return self.title.strip()
        first = next((m.content for m in self.messages
                      if m.role == "user" and m.content.strip()), "")
        text = " ".join(first.split())
        if not text:
            return "New conversation"
        return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1] + "…"

    @property
    def is_empty(self) -> bool:
        return not self.messages and not self.choices and not self.system.strip()

    def api_messages(self, leave_out: Iterable[str] = ()) -> list[dict[str, str]]:
        """The messages array the API takes: the system text (when set), then the transcript."""
        skip = set(leave_out)
        head = [{"role": "system", "content": self.system}] if self.system.strip() else []
        return head + [m.to_api() for m in self.messages if m.id not in skip]

    def index_of(self, message_id: str) -> int:
        for index, message in enumerate(self.messages):
            if message.id == message_id:
                return index
        raise KeyError(f"no message {message_id!r} in this conversation")

    def get(self, message_id: str) -> Message:
        return self.messages[self.index_of(message_id)]

    @property
    def last_reply(self) -> Message | None:
        """The newest generated reply (the one whose request shaped the budget last)."""
        return next((m for m in reversed(self.messages) if m.latency is not None), None)

    # -- changing --------------------------------------------------------------------
    def add(self, role: str, content: str, *, after: str | None = None) -> Message:
        """Insert a message by hand, after the given message or at the end."""
        _check_role(role)
        message = Message(role, content)
        position = len(self.messages) if after is None else self.index_of(after) + 1
        self.messages.insert(position, message)
        self.touch()
        return message

    def edit(self, message_id: str, *, content: str | None = None, role: str | None = None) -> None:
        """Change a message's text and/or role. Changed text is the user's own from then on:
        its token count is redone and its token probabilities no longer apply."""
        message = self.get(message_id)
        if role is not None:
            _check_role(role)
            message.role = role
        if content is not None and content != message.content:
            message.content = content
            message.tokens, message.tokens_exact, message.logprobs = None, False, None
            message.edited = True
        self.touch()

    def delete(self, message_id: str) -> Message:
        message = self.messages.pop(self.index_of(message_id))
        self.touch()
        return message

    def take_last_reply(self) -> Message | None:
        """Remove the reply to regenerate: the last message when it is the assistant's.

        Pending choices are a reply too: they go. Returns what was removed, if anything.
        """
        self.choices = []
        if self.messages and self.messages[-1].role == "assistant":
            return self.delete(self.messages[-1].id)
        self.touch()
        return None

    def branch(self, message_id: str) -> Conversation:
        """A new conversation with the same system text and the transcript up to and
        including the given message; this one is left as it is."""
        end = self.index_of(message_id) + 1
        return Conversation(
            title=f"{self.display_title} (branch)", system=self.system,
            messages=[replace(m, dropped=list(m.dropped)) for m in self.messages[:end]],
            model=self.model, branched_from=self.id,
        )

    def offer(self, replies: list[Message]) -> None:
        """Add the replies of one request: one continues the transcript, several wait to be
        picked (``pick``)."""
        if len(replies) == 1:
            self.messages.append(replies[0])
            self.choices = []
        else:
            self.choices = list(replies)
        self.touch()

    def pick(self, choice: int) -> Message:
        """Continue the conversation with one of the pending choices; the others go."""
        message = self.choices[choice]
        self.messages.append(message)
        self.choices = []
        self.touch()
        return message

    def touch(self) -> None:
        self.updated = _now()

    # -- storing ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION, "id": self.id, "title": self.title, "system": self.system,
            "messages": [m.to_dict() for m in self.messages],
            "choices": [m.to_dict() for m in self.choices],
            "model": self.model, "created": self.created, "updated": self.updated,
            "branched_from": self.branched_from,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Conversation:
        """A conversation from ``to_dict`` output; raises ``ValueError`` when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError("not a stored conversation")
        if data.get("format", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError("stored by a newer version of the app")
        return cls(
            id=data["id"], title=str(data.get("title") or ""), system=str(data.get("system") or ""),
            messages=[Message.from_dict(m) for m in data.get("messages") or []],
            choices=[Message.from_dict(m) for m in data.get("choices") or []],
            model=data.get("model"), created=str(data.get("created") or _now()),
            updated=str(data.get("updated") or _now()), branched_from=data.get("branched_from"),
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")


# -- replies ------------------------------------------------------------------------------

def replies_from(result: RunResult, *,
                 first_text: Mapping[int, float] | None = None) -> list[Message]:
    """One assistant message per choice of a chat result, with its timing and tokens.

    ``first_text`` gives each choice's own time to first text when it was measured per
    choice; otherwise the result's (the first text of any choice) is used. A stream that
    was stopped or broke keeps its text, marked incomplete (with the error when it broke).
    The completion token count the server reported is per request, so it is a message's
    own only when there is one choice; otherwise the token probabilities give the count,
    or it is left for the counter.
    """
    usage = result.usage or {}
    single = len(result.choices) == 1
    fields = logprobs.by_choice(result)  # a stream's pieces put back together
    replies = []
    for choice in result.choices:
        field = fields.get(choice.index)
        entries = (field.get("content") or None) if isinstance(field, dict) else None
        tokens = usage.get("completion_tokens") if single else None
        details = usage.get("completion_tokens_details") if single else None
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if tokens is None and entries is not None:
            tokens = len(entries)
        replies.append(Message(
            "assistant", choice.text, model=result.request.get("model"),
            tokens=tokens if isinstance(tokens, int) else None,
            tokens_exact=isinstance(tokens, int),
            latency=result.latency,
            time_to_first_token=(first_text or {}).get(choice.index, result.time_to_first_token),
            prompt_tokens=usage.get("prompt_tokens"), finish_reason=choice.finish_reason,
            reasoning_tokens=reasoning if isinstance(reasoning, int) else None,
            incomplete=result.incomplete, logprobs=entries,
            error=str(result.error) if result.error is not None else None,
            **sampled_with(result.request),
        ))
    return replies


def sampled_with(request: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling settings of a chat request: those it sent, the API's defaults for the
    others, and its logit_bias (None when it sent none)."""
    settings = {name: request.get(name, spec("chat", name).default) for name in SAMPLING}
    bias = request.get("logit_bias")
    settings["logit_bias"] = ({str(token): float(value) for token, value in bias.items()}
                              if isinstance(bias, Mapping) and bias else None)
    return settings


# -- counting tokens --------------------------------------------------------------------

@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool

    def __str__(self) -> str:
        return f"{self.tokens:,}" if self.exact else f"~{self.tokens:,}"


class EstimatedCounter:
    """About four characters per token, plus the chat format's framing per message."""

    exact = False
    context_length: int | None = None
    problem: str | None = None

    def count_text(self, text: str) -> TokenCount:
        return TokenCount(estimate_tokens(text), False)

    def count_messages(self, messages: list[dict[str, str]]) -> TokenCount:
        tokens = sum(TOKENS_PER_MESSAGE + estimate_tokens(m["content"]) for m in messages)
        return TokenCount(tokens + TOKENS_PER_REPLY, False)


class ServerCounter(EstimatedCounter):
    """Exact counts from the server's ``POST /tokenize`` (the local server has it).

    The first failure (a server without the endpoint answers 404) turns this counter into
    an estimating one for good, with ``problem`` saying why: a page redraws often, and must
    not wait on the same failing call each time. Counts are cached by their text.
    """

    def __init__(self, conn: Connection, model: str, *, timeout: float = 10.0):
        self.conn = replace(conn, max_retries=0, timeout=timeout)
        self.model = model
        self.exact = True
        self.problem = None
        self.context_length = None
        self._cache: dict[str, int] = {}

    def count_text(self, text: str) -> TokenCount:
        return self._count({"text": text}) or super().count_text(text)

    def count_messages(self, messages: list[dict[str, str]]) -> TokenCount:
        return self._count({"messages": messages}) or super().count_messages(messages)

    def _count(self, body: dict[str, Any]) -> TokenCount | None:
        if not self.exact:
            return None
        key = json.dumps(body, sort_keys=True, ensure_ascii=False)
        if key not in self._cache:
            try:
                answer = client_for(self.conn).post(
                    "/tokenize", cast_to=object, body={"model": self.model, **body})
                count = int(answer["count"])
            except (KeyError, TypeError, ValueError):
                return self._give_up("its answer has no token count")
            except Exception as exc:  # noqa: BLE001 - any failure means: estimate from now on
                return self._give_up(str(errors.from_openai(exc)))
            self._cache[key] = count
            if isinstance(answer.get("context_length"), int):
                self.context_length = answer["context_length"]
            if len(self._cache) > 2000:
                self._cache.pop(next(iter(self._cache)))
        return TokenCount(self._cache[key], True)

    def _give_up(self, reason: str) -> None:
        self.exact = False
        self.problem = f"The server cannot count tokens ({reason}); counts are estimates."


def count_missing(messages: Iterable[Message], counter: EstimatedCounter) -> None:
    """Give every message without a token count one (content tokens only)."""
    for message in messages:
        if message.tokens is None:
            count = counter.count_text(message.content)
            message.tokens, message.tokens_exact = count.tokens, count.exact


# -- the context budget -----------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What the next request sends and how it stands against the budget.

    ``available`` is the context length less the room kept for the reply (max_tokens when
    set); None when the context length is unknown, and then nothing is checked.
    """

    messages: list[dict[str, str]]
    dropped: list[str]
    used: TokenCount        # the whole transcript
    sent: TokenCount        # what is sent after dropping
    available: int | None

    @property
    def over(self) -> bool:
        return self.available is not None and self.used.tokens > self.available


def turns(messages: list[Message]) -> list[list[Message]]:
    """The transcript in turns: each user message with everything up to the next one.

    Messages before the first user message (hand-written few-shot replies, say) form a
    turn of their own.
    """
    groups: list[list[Message]] = []
    for message in messages:
        if message.role == "user" or not groups:
            groups.append([])
        groups[-1].append(message)
    return groups


def fit(conversation: Conversation, counter: EstimatedCounter, *, context_length: int | None,
        reserve: int = 0, policy: Policy = "refuse") -> Plan:
    """What to send so the prompt and ``reserve`` reply tokens fit in ``context_length``.

    With "drop_oldest", the fewest oldest turns are left out that make it fit (found by
    bisection: a handful of counts even for a long transcript); the system text and the
    newest turn always stay. Raises ``ContextTooLong`` when it cannot fit.
    """
    everything = conversation.api_messages()
    used = counter.count_messages(everything)
    available = None if context_length is None else context_length - max(reserve, 0)
    plan = Plan(everything, [], used, used, available)
    if available is None or used.tokens <= available:
        return plan
    if policy != "drop_oldest":
        raise _too_long(used, available, reserve, "Nothing was sent.",
                        "Delete or shorten messages, choose to drop the oldest turns, "
                        "lower max_tokens or raise the limit.")
    groups = turns(conversation.messages)

    def attempt(count: int) -> Plan:
        dropped = [m.id for group in groups[:count] for m in group]
        messages = conversation.api_messages(leave_out=dropped)
        return Plan(messages, dropped, used, counter.count_messages(messages), available)

    low, high = 1, len(groups) - 1  # the newest turn is never dropped
    best = attempt(high) if high >= 1 else None
    if best is None or best.sent.tokens > available:
        sent = best.sent if best is not None else used
        raise _too_long(sent, available, reserve, "Even the system text and the newest turn "
                        "alone do not fit; nothing was sent.",
                        "Shorten the system text or the last message, lower max_tokens or "
                        "raise the limit.")
    while low < high:
        middle = (low + high) // 2
        candidate = attempt(middle)
        if candidate.sent.tokens <= available:
            best, high = candidate, middle
        else:
            low = middle + 1
    return best


def _too_long(count: TokenCount, available: int, reserve: int, what: str,
              hint: str) -> errors.ContextTooLong:
    room = f" ({reserve:,} kept for the reply)" if reserve else ""
    return errors.ContextTooLong(
        f"The messages take {count} tokens; the budget allows {available:,}{room}. {what}",
        param="messages", hint=hint)


# -- exports ----------------------------------------------------------------------------

def to_json(conversation: Conversation) -> str:
    """The messages array, ready to pass to the API as ``messages``."""
    return json.dumps(conversation.api_messages(), indent=2, ensure_ascii=False) + "\n"


def to_markdown(conversation: Conversation) -> str:
    """A readable transcript. Each text sits in a fence longer than any backtick run in it,
    so no message can break the document's structure."""
    lines = [f"# {' '.join(conversation.display_title.split())}", ""]
    if conversation.model:
        lines += [f"Model: `{conversation.model}`", ""]
    entries = ([("System", conversation.system, None)] if conversation.system.strip() else [])
    entries += [(m.role.capitalize(), m.content, m) for m in conversation.messages]
    for heading, text, message in entries:
        lines += [f"## {heading}", ""]
        if message is not None and (message.incomplete or message.edited):
            lines += ["_" + ("incomplete" if message.incomplete else "edited by hand") + "_", ""]
        fence = "`" * max(3, _longest_backtick_run(text) + 1)
        lines += [f"{fence}text", text, fence, ""]
    return "\n".join(lines)


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest
