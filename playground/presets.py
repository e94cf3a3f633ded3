"""Presets: a prompt (or chat messages) with parameter values, ready to load into a page.

Built-in presets show the classic effects of the sampling parameters (greedy against
creative temperature, repetition curbed by a penalty, stop sequences, nucleus top_p, several
choices with a seed) and the examples of the classic first tutorial. Users save their own in
``presets.json`` in the data folder, and share any preset as a link: ``to_query_params``
packs it into one query parameter ``p`` (base64url of deflated JSON), ``from_query_params``
unpacks it, and also reads a readable form (``endpoint=completions&prompt=...&temperature=0``)
a person can type.

A preset never holds a key: it has no field for one, its values must be parameters of its
endpoint, and every preset read from a file or a link is checked against the parameter specs
(``params.validate``). Whatever is wrong comes out as one ``PresetError`` (a ``ValueError``)
whose message says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playground import params
from playground.messages import problems as message_problems
from playground.settings import data_dir, write_private

ENDPOINTS = ("completions", "chat")
FORMAT_VERSION = 1

QUERY_KEY = "p"
MAX_QUERY_CHARS = 6000          # a link a browser, a chat app and a proxy all pass on
MAX_JSON_BYTES = 100_000        # a deflated link cannot unpack into more than this
MAX_NAME_CHARS = 120
MAX_DESCRIPTION_CHARS = 4000


_FIELDS = ("name", "endpoint", "model", "prompt", "messages", "values", "description")


class PresetError(ValueError):
    """A preset that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Preset:
    """A page's inputs: endpoint, optional model, prompt or messages, and parameter values.

    ``model`` None keeps whatever model the user has chosen. ``values`` hold only
    parameters of the endpoint; defaults in it are harmless (they are not sent).
    """

    name: str
    endpoint: str
    model: str | None = None
    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def problems(self) -> list[str]:
        """Everything wrong with the preset, one message each; empty when it is usable."""
        return _problems(self)

    def checked(self) -> Preset:
        """The preset itself, or ``PresetError`` naming every problem."""
        problems = self.problems()
        if not problems:
            return self
        named = isinstance(self.name, str) and self.name.strip()
        lead = f"The preset {self.name!r} cannot be used: " if named else ""
        raise PresetError(lead + " ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; fields left unset are left out."""
        data: dict[str, Any] = {"name": self.name, "endpoint": self.endpoint}
        if self.model is not None:
            data["model"] = self.model
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.messages is not None:
            data["messages"] = [dict(m) for m in self.messages]
        data["values"] = _normal_values(self.endpoint, self.values)
        if self.description:
            data["description"] = self.description
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Preset:
        """A checked preset from ``to_dict`` data; unknown fields are ignored."""
        if not isinstance(data, dict):
            raise PresetError("A preset must be a JSON object.")
        values = data.get("values", {})
        if not isinstance(values, dict):
            raise PresetError("The preset's values must be an object of parameter names to values.")
        endpoint = data.get("endpoint")
        messages = data.get("messages")
        preset = cls(
            name=data.get("name", ""),
            endpoint=endpoint,
            model=data.get("model"),
            prompt=data.get("prompt"),
            messages=[dict(m) for m in messages] if isinstance(messages, list)
            and all(isinstance(m, dict) for m in messages) else messages,
            values=_normal_values(endpoint, values) if endpoint in ENDPOINTS else values,
            description=data.get("description", ""),
        )
        return preset.checked()


# Checks --------------------------------------------------------------------------------------

def _problems(preset: Preset) -> list[str]:
    problems: list[str] = []
    if not isinstance(preset.name, str) or not preset.name.strip():
        problems.append("Give the preset a name.")
    elif len(preset.name) > MAX_NAME_CHARS:
        problems.append(f"Its name must be at most {MAX_NAME_CHARS} characters.")
    if preset.endpoint not in ENDPOINTS:
        problems.append(f"endpoint must be 'completions' or 'chat'; got {preset.endpoint!r}.")
        return problems
    if preset.model is not None and (not isinstance(preset.model, str) or not preset.model.strip()):
        problems.append("model must be a model name, or left out to keep the chosen model.")
    if not isinstance(preset.description, str):
        problems.append("description must be text.")
    elif len(preset.description) > MAX_DESCRIPTION_CHARS:
        problems.append(f"description must be at most {MAX_DESCRIPTION_CHARS} characters.")
    if preset.endpoint == "completions":
        if not isinstance(preset.prompt, str) or not preset.prompt:
            problems.append("A completions preset needs a prompt (text).")
        if preset.messages is not None:
            problems.append("A completions preset has a prompt, not messages.")
    else:
        problems.extend(message_problems(preset.messages))
        if preset.prompt is not None:
            problems.append("A chat preset has messages, not a prompt.")
    problems.extend(_value_problems(preset.endpoint, preset.values))
    return problems


def _value_problems(endpoint: str, values: Any) -> list[str]:
    if not isinstance(values, dict):
        return ["values must map parameter names to values."]
    known = params.specs_for(endpoint)
    unknown = [str(name) for name in values if name not in known]
    if unknown:
        return [f"Unknown {endpoint} parameter(s): {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(known)}."]
    return [error.message for error in params.validate(endpoint, values)]


def _normal_values(endpoint: str, values: dict[str, Any]) -> dict[str, Any]:
    """Values as JSON keeps them: stop as a list, logit_bias keys as text, whole floats of
    integer parameters as ints (JSON from elsewhere may write 2.0)."""
    specs = params.specs_for(endpoint)
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = specs.get(name)
        value_type = spec.value_type if spec else None
        if value_type == "stop" and isinstance(value, tuple):
            value = list(value)
        elif value_type == "logit_bias" and isinstance(value, dict):
            value = {str(k): v for k, v in value.items()}
        elif (value_type == "int" and isinstance(value, float) and value.is_integer()
              and not isinstance(value, bool)):
            value = int(value)
        out[name] = value
    return out


# Built-in presets ----------------------------------------------------------------------------

_WEEKEND = "My favourite thing about the weekend is"
_LOOP = "I like apples. I like apples. I like apples. I like apples. I like"
_TUTORIAL_CHAT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Who won the world series in 2020?"},
    {"role": "assistant", "content": "The Los Angeles Dodgers won the World Series in 2020."},
    {"role": "user", "content": "Where was it played?"},
]
_TORTOISE = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Suggest a name for a pet tortoise, and say why."},
]


def builtin_presets(endpoint: str | None = None) -> list[Preset]:
    """The presets that come with the app (fresh objects on every call)."""
    presets = [
        Preset(
            "Tutorial: Say hello", "completions", prompt="Say: hello.",
            values={"temperature": 0, "max_tokens": 100, "stop": ["\n"]},
            description=(
                "The classic first request: greedy (temperature 0), at most 100 tokens, "
                "ending before the first line break. The original also passed top_p=1, n=1, "
                "both penalties 0 and stream and echo off: those are the API's defaults, so "
                "they are not sent. top_p is nucleus sampling from 0 to 1 (not a second "
                "temperature) and n is how many choices come back. A model that starts its "
                "answer with a line break returns nothing here: that is the stop sequence "
                "at work."),
        ),
        Preset(
            "Greedy: temperature 0", "completions", prompt=_WEEKEND,
            values={"temperature": 0, "max_tokens": 40},
            description=(
                "Temperature 0 always takes the most likely next token: run it twice and the "
                "text is the same. Compare with 'Creative: temperature 1.2'."),
        ),
        Preset(
            "Creative: temperature 1.2", "completions", prompt=_WEEKEND,
            values={"temperature": 1.2, "max_tokens": 40},
            description=(
                "Temperature above 1 flattens the distribution so unlikely tokens are picked "
                "more often: every run differs, and much higher values drift into nonsense. "
                "Compare with 'Greedy: temperature 0'."),
        ),
        Preset(
            "Looping prompt, no penalty", "completions", prompt=_LOOP,
            values={"temperature": 0, "max_tokens": 60},
            description=(
                "A prompt that invites the model to repeat itself; greedy decoding tends to "
                "keep the loop going. Compare with 'Repetition curbed: frequency penalty 1.5'. "
                "A base model such as gemma-3-270m shows it best."),
        ),
        Preset(
            "Repetition curbed: frequency penalty 1.5", "completions", prompt=_LOOP,
            values={"temperature": 0, "max_tokens": 60, "frequency_penalty": 1.5},
            description=(
                "The same looping prompt. Each time a token appears in the output, 1.5 more is "
                "subtracted from its logit, so the loop breaks and new words come in. "
                "presence_penalty instead subtracts its value once, however often the token "
                "appeared. Both range -2 to 2; 0 means no penalty."),
        ),
        Preset(
            "Stop sequences", "completions",
            prompt="A shopping list:\n1. apples\n2. bread\n3.",
            values={"temperature": 0, "max_tokens": 60, "stop": ["4.", "\n\n"]},
            description=(
                "Generation ends just before '4.' or a blank line would appear, and the stop "
                "text itself is not returned: the list stops after item 3. Up to 4 stop "
                "sequences."),
        ),
        Preset(
            "Nucleus sampling: top_p 0.1", "completions", prompt="Once upon a time",
            values={"top_p": 0.1, "max_tokens": 40},
            description=(
                "top_p is nucleus sampling, from 0 to 1: only the most likely tokens whose "
                "probabilities add up to top_p are candidates. At 0.1 that is often just the "
                "top one or two, so even at temperature 1 the text stays close to greedy; 1 "
                "keeps every token. Change top_p or temperature, usually not both."),
        ),
        Preset(
            "Three choices with a seed (n=3)", "completions",
            prompt="A good name for a coffee shop is",
            values={"n": 3, "seed": 42, "max_tokens": 12, "stop": ["\n"]},
            description=(
                "n is the number of choices returned for the one prompt, each sampled on its "
                "own: it does not change how they are sampled, and each costs its own tokens. "
                "The seed makes them repeatable: run it again for the same three."),
        ),
        Preset(
            "Tutorial: World Series follow-up", "chat", messages=_TUTORIAL_CHAT,
            description=(
                "The classic chat example. The system message sets the assistant's role; the "
                "earlier user and assistant turns are the context, so 'it' in the last "
                "question means the 2020 World Series. The API remembers nothing between "
                "requests: the whole transcript is sent every time, and it counts against "
                "the model's context length."),
        ),
        Preset(
            "Chat: greedy (temperature 0)", "chat", messages=_TORTOISE,
            values={"temperature": 0, "max_tokens": 80},
            description="Temperature 0: the most likely reply, the same on every run.",
        ),
        Preset(
            "Chat: creative (temperature 1.2)", "chat", messages=_TORTOISE,
            values={"temperature": 1.2, "max_tokens": 80},
            description=(
                "Temperature 1.2: unlikely tokens get picked more often, so every run brings "
                "a different reply."),
        ),
        Preset(
            "Chat: three choices with a seed (n=3)", "chat", messages=_TORTOISE,
            values={"n": 3, "seed": 42, "max_tokens": 60},
            description=(
                "n=3 returns three separate replies to the same messages (it does not change "
                "how each is sampled; each costs its own tokens). The seed makes them "
                "repeatable."),
        ),
    ]
    fresh = [Preset.from_dict(p.to_dict()) for p in presets]  # deep copies, checked
    return [p for p in fresh if endpoint is None or p.endpoint == endpoint]


# The user's presets ----------------------------------------------------------------------------

class PresetStore:
    """The user's presets in ``presets.json`` in the data folder (no key is ever in a preset).

    A name is unique per endpoint. Entries that no longer pass the checks (edited by hand,
    say) are skipped on load and described in ``skipped``, and kept in the file, minus any
    field a preset does not have. A file that is not JSON is kept aside as
    ``presets.json.bad`` before the next save replaces it.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "presets.json"
        self.skipped: list[str] = []

    def load(self, endpoint: str | None = None) -> list[Preset]:
        presets, _ = self._read()
        return [p for p in presets if endpoint is None or p.endpoint == endpoint]

    def get(self, endpoint: str, name: str) -> Preset | None:
        return next((p for p in self.load(endpoint) if p.name == name), None)

    def save(self, preset: Preset) -> None:
        """Add the preset, replacing one of the same name and endpoint; checked first."""
        preset = Preset.from_dict(preset.checked().to_dict())
        presets, broken = self._read(keep_corrupt=True)
        others = [p for p in presets if (p.endpoint, p.name) != (preset.endpoint, preset.name)]
        self._write([*others, preset], broken)

    def delete(self, endpoint: str, name: str) -> bool:
        """Remove a preset; False when there was none of that name."""
        presets, broken = self._read(keep_corrupt=True)
        kept = [p for p in presets if (p.endpoint, p.name) != (endpoint, name)]
        if len(kept) == len(presets):
            return False
        self._write(kept, broken)
        return True

    def _read(self, keep_corrupt: bool = False) -> tuple[list[Preset], list[dict]]:
        """The presets that pass the checks, and the rows that do not."""
        self.skipped = []
        rows = self._rows()
        if rows is None:
            if keep_corrupt:
                self.path.replace(self.path.with_name(self.path.name + ".bad"))
            return [], []
        presets, broken = [], []
        for row in rows:
            try:
                presets.append(Preset.from_dict(row))
            except PresetError as exc:
                self.skipped.append(str(exc))
                if isinstance(row, dict):
                    broken.append({k: v for k, v in row.items() if k in _FIELDS})
        return presets, broken

    def _rows(self) -> list | None:
        """The stored rows; [] when there is no file, None when it is not readable JSON."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        rows = data.get("presets") if isinstance(data, dict) else None
        return rows if isinstance(rows, list) else None

    def _write(self, presets: list[Preset], broken: list[dict]) -> None:
        data = {"version": FORMAT_VERSION, "presets": [*broken, *(p.to_dict() for p in presets)]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        write_private(tmp, _dumps(data, indent=2))
        tmp.replace(self.path)


def all_presets(endpoint: str, store: PresetStore | None = None) -> list[Preset]:
    """Built-in presets first, then the user's (one of the same name replaces a built-in)."""
    mine = (store or PresetStore()).load(endpoint)
    names = {p.name for p in mine}
    return [p for p in builtin_presets(endpoint) if p.name not in names] + mine


# Sharing as a link -----------------------------------------------------------------------------

def to_query_params(preset: Preset, *, readable: bool = False) -> dict[str, str]:
    """Query parameters that ``from_query_params`` turns back into the same preset.

    The compact form is one parameter ``p``; ``readable=True`` gives one parameter per field
    and value instead (longer, but a person can read and edit it). ``PresetError`` when the
    preset does not pass the checks or is too long for a link.
    """
    data = preset.checked().to_dict()
    if readable:
        query = _readable_params(data)
        size = len(urlencode(query, errors="surrogatepass"))
    else:
        packed = _dumps({"v": FORMAT_VERSION, **data}, separators=(",", ":")).encode("utf-8")
        token = base64.urlsafe_b64encode(zlib.compress(packed, 9)).decode("ascii").rstrip("=")
        query = {QUERY_KEY: token}
        size = len(token)
    if size > MAX_QUERY_CHARS:
        raise PresetError(f"This preset is too long to share as a link ({size} characters; at "
                          f"most {MAX_QUERY_CHARS}). Shorten the prompt or the description.")
    return query


def from_query_params(query: Mapping[str, Any]) -> Preset:
    """The preset a link carries: the compact ``p`` form, else the readable form.

    Other query parameters are ignored. Anything malformed, oversized or failing the
    parameter checks raises ``PresetError`` with a message for the person who opened it.
    """
    if QUERY_KEY in query:
        return Preset.from_dict(_unpack(_single(query, QUERY_KEY)))
    if "endpoint" in query:
        return Preset.from_dict(_from_readable(query))
    raise PresetError("This link holds no preset: expected a 'p' parameter, or 'endpoint' "
                      "with 'prompt' or 'messages'.")


def _single(query: Mapping[str, Any], key: str) -> str:
    value = query[key]
    if isinstance(value, (list, tuple)):  # a parameter given twice: the last one wins
        value = value[-1] if value else ""
    if not isinstance(value, str):
        raise PresetError(f"The {key!r} parameter must be text.")
    return value


def _unpack(token: str) -> Any:
    if len(token) > MAX_QUERY_CHARS:
        raise PresetError(f"The 'p' parameter is too long ({len(token)} characters; at most "
                          f"{MAX_QUERY_CHARS}).")
    if not token or not re.fullmatch(r"[A-Za-z0-9_-]+=*", token):
        raise PresetError("The 'p' parameter is not base64url text; the link may have been "
                          "cut or altered.")
    try:
        raw = base64.urlsafe_b64decode(token.rstrip("=") + "=" * (-len(token.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise PresetError("The 'p' parameter is not valid base64url; the link may have been "
                          "cut short.") from None
    text = _inflate(raw) if raw[:1] == b"\x78" else raw  # zlib streams start with 0x78
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise PresetError("The 'p' parameter does not hold a preset; the link may have been "
                          "cut or altered.") from None
    if not isinstance(data, dict):
        raise PresetError("The 'p' parameter does not hold a preset object.")
    version = data.get("v", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise PresetError(f"The link was made by another version of the app (format "
                          f"{version!r}; this one reads {FORMAT_VERSION}).")
    return data


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(raw, MAX_JSON_BYTES + 1)
    except zlib.error:
        raise PresetError("The 'p' parameter is damaged (it does not unpack); the link may "
                          "have been cut or altered.") from None
    if len(text) > MAX_JSON_BYTES or inflater.unconsumed_tail:
        raise PresetError(f"The 'p' parameter unpacks to more than {MAX_JSON_BYTES} bytes; "
                          "it is not a preset this app made.")
    if not inflater.eof:
        raise PresetError("The 'p' parameter is cut short; copy the whole link.")
    return text


def _dumps(data: Any, **options: Any) -> str:
    """JSON with unicode as it is, escaped only when it cannot be written as UTF-8."""
    text = json.dumps(data, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        text = json.dumps(data, ensure_ascii=True, **options)
    return text


def _readable_params(data: dict[str, Any]) -> dict[str, str]:
    query = {key: data[key] for key in ("name", "endpoint", "model", "prompt", "description")
             if key in data}
    if "messages" in data:
        query["messages"] = _dumps(data["messages"])
    specs = params.specs_for(data["endpoint"])
    for name, value in data["values"].items():
        text_kind = specs[name].value_type == "text" and isinstance(value, str)
        query[name] = value if text_kind else _dumps(value)
    return query


def _from_readable(query: Mapping[str, Any]) -> dict[str, Any]:
    size = len(urlencode({str(k): str(v) for k, v in query.items()}, errors="surrogatepass"))
    if size > MAX_QUERY_CHARS:
        raise PresetError(f"The link is too long ({size} characters; at most {MAX_QUERY_CHARS}).")
    endpoint = _single(query, "endpoint")
    data: dict[str, Any] = {"name": "Shared preset", "endpoint": endpoint, "values": {}}
    for key in ("name", "model", "prompt", "description"):
        if key in query:
            data[key] = _single(query, key)
    if "messages" in query:
        try:
            data["messages"] = json.loads(_single(query, "messages"))
        except (json.JSONDecodeError, RecursionError):
            raise PresetError("'messages' must be JSON: a list of {\"role\": ..., "
                              "\"content\": ...}.") from None
    specs = params.specs_for(endpoint) if endpoint in ENDPOINTS else {}
    for name, spec in specs.items():
        if name not in query:
            continue
        text = _single(query, name)
        if spec.value_type == "text":
            data["values"][name] = text
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            if spec.value_type != "stop":
                raise PresetError(f"{name} must be written as JSON (a number, true/false or "
                                  f"an object); got {text!r}.") from None
            value = text
        if spec.value_type == "stop" and not isinstance(value, (str, list)):
            value = text  # a bare stop word reads as itself, even 4 or true
        data["values"][name] = value
    return data
