"""View code: the exact request as a Python script (openai SDK, v1+ client style) and as curl.

Both snippets read the key from ``OPENAI_API_KEY`` at run time; the functions here never
receive a key, so none can end up in a snippet. The request is the dict ``runner.build_request``
returns, that is the SDK's keyword arguments: the Python snippet passes them as they are and
the curl snippet sends them as the JSON body the SDK would send.

Values are rendered as literals of each language (``True``/``None`` in Python,
``true``/``null`` in JSON) and strings survive whatever they hold: quotes, backslashes,
newlines, ``$HOME``, unicode and unprintable characters. The JSON body goes through a quoted
heredoc, so the shell expands nothing in it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playground.connection import Connection

OPENAI_BASE_URL = "https://api.openai.com/v1"
KEY_VARIABLE = "OPENAI_API_KEY"
KEYLESS = "no-key"

_PATHS = {"completions": "/completions", "chat": "/chat/completions"}
_METHODS = {"completions": "client.completions.create", "chat": "client.chat.completions.create"}
_WIDTH = 88
_INDENT = "    "


def python_snippet(endpoint: str, request: dict[str, Any], base_url: str | None, *,
                   key_required: bool | None = None) -> str:
    """A runnable Python script that sends ``request`` and prints the text of each choice.

    ``base_url`` None (or OpenAI's own) leaves the SDK's default. ``key_required`` None means:
    required at OpenAI, optional elsewhere (a keyless server gets a placeholder key, which
    the SDK insists on).
    """
    _check_endpoint(endpoint)
    required = _key_required(base_url, key_required)
    key = (f'os.environ["{KEY_VARIABLE}"]' if required
           else f'os.environ.get("{KEY_VARIABLE}", "{KEYLESS}")')
    client_lines = []
    if not _is_openai_default(base_url):
        client_lines.append(f"{_INDENT}base_url={_py_str(base_url)},")
    note = "" if required else "  # keyless servers accept any key"
    client_lines.append(f"{_INDENT}api_key={key},{note}")
    streaming = bool(request.get("stream"))
    target = "stream" if streaming else "response"
    call = [f"{target} = {_METHODS[endpoint]}("]
    call += [f"{_INDENT}{name}={_kwarg_literal(name, value)}," for name, value in request.items()]
    call.append(")")
    lines = [
        "import os",
        "",
        "from openai import OpenAI",
        "",
        "client = OpenAI(",
        *client_lines,
        ")",
        "",
        *call,
        *_printing(endpoint, streaming, _choice_count(request)),
    ]
    return "\n".join(lines) + "\n"


def curl_snippet(endpoint: str, request: dict[str, Any], base_url: str | None, *,
                 key_required: bool | None = None) -> str:
    """A POSIX shell command sending ``request`` as JSON with curl; the key comes from the
    environment. A streaming request adds ``-N`` so events print as they arrive."""
    _check_endpoint(endpoint)
    required = _key_required(base_url, key_required)
    url = (base_url or OPENAI_BASE_URL).rstrip("/") + _PATHS[endpoint]
    key = f"${KEY_VARIABLE}" if required else f"${{{KEY_VARIABLE}:-{KEYLESS}}}"
    body = _json_body(request)  # every line starts with a bracket, a quote or a space:
    delimiter = "JSON"          # none can end the heredoc early
    options = ["-sS"] + (["-N"] if request.get("stream") else [])
    lines = [
        f"curl {' '.join(options)} {shlex.quote(url)} \\",
        '  -H "Content-Type: application/json" \\',
        f'  -H "Authorization: Bearer {key}" \\',
        f"  --data-binary @- <<'{delimiter}'",
        body,
        delimiter,
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Snippets:
    python: str
    curl: str


def snippets_for(conn: Connection, endpoint: str, request: dict[str, Any], *,
                 base_url: str | None = None) -> Snippets:
    """Both snippets for a request sent through ``conn``.

    The connection's key is never used: the snippets read ``OPENAI_API_KEY`` (required when
    the connection has or needs a key, else with a placeholder). ``base_url``
    overrides the connection's (the local connection's address is only known while its
    server runs: pass it, or it is looked up, starting the server if needed). As a last
    guard, a key that still shows up (typed into a prompt, say) is blanked out.
    """
    if base_url is None:
        if conn.kind == "local":
            from playground.connection import base_url_of

            base_url = base_url_of(conn)
        else:
            base_url = conn.base_url
    required = conn.needs_key or bool(conn.api_key) or _is_openai_default(base_url)
    snippets = Snippets(
        python_snippet(endpoint, request, base_url, key_required=required),
        curl_snippet(endpoint, request, base_url, key_required=required),
    )
    key = conn.api_key
    if key and len(key) >= 8 and (key in snippets.python or key in snippets.curl):
        snippets = Snippets(snippets.python.replace(key, "<redacted key>"),
                            snippets.curl.replace(key, "<redacted key>"))
    return snippets


# Python output ---------------------------------------------------------------------------

def _printing(endpoint: str, streaming: bool, choices: int) -> list[str]:
    text = "choice.text" if endpoint == "completions" else "choice.message.content"
    delta = "choice.text" if endpoint == "completions" else "choice.delta.content"
    if not streaming and choices == 1:
        return [f"print(response.choices[0].{text.removeprefix('choice.')})"]
    if not streaming:
        return [
            "for choice in response.choices:",
            f'{_INDENT}print(f"--- choice {{choice.index}} ---")',
            f"{_INDENT}print({text})",
        ]
    if choices == 1:
        return [
            "for chunk in stream:",
            f"{_INDENT}for choice in chunk.choices:  # the usage chunk at the end has none",
            f'{_INDENT * 2}print({delta} or "", end="", flush=True)',
            "print()",
        ]
    return [
        "texts = {}",
        "for chunk in stream:",
        f"{_INDENT}for choice in chunk.choices:  # the usage chunk at the end has none",
        f'{_INDENT * 2}texts[choice.index] = texts.get(choice.index, "") + ({delta} or "")',
        "for index, text in sorted(texts.items()):",
        f'{_INDENT}print(f"--- choice {{index}} ---")',
        f"{_INDENT}print(text)",
    ]


def _choice_count(request: dict[str, Any]) -> int:
    n = request.get("n") or 1
    return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else 1


# Python literals -------------------------------------------------------------------------

def _kwarg_literal(name: str, value: Any) -> str:
    """A top-level argument: a multi-line string becomes implicit concatenation, one source
    line per line of text, which still parses to the very same string."""
    if isinstance(value, str):
        parts = re.findall(r"[^\n]*\n|[^\n]+", value)
        if len(parts) > 1:
            inner = "\n".join(f"{_INDENT * 2}{_py_str(part)}" for part in parts)
            return f"(\n{inner}\n{_INDENT})"
    return _py_literal(value, 1, len(name) + 1)


def _py_literal(value: Any, depth: int, prefix: int = 0) -> str:
    """``value`` as Python source: inline when it fits the line, else one item per line.
    ``prefix`` counts the characters in front of it on its line (``name=``)."""
    inline = _py_inline(value)
    if not isinstance(value, (list, tuple, dict)) or _fits(inline, depth, prefix):
        return inline
    pad, inner = _INDENT * depth, _INDENT * (depth + 1)
    if isinstance(value, dict):
        items = [f"{inner}{_py_inline(k)}: {_py_literal(v, depth + 1, len(_py_inline(k)) + 2)},"
                 for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{_py_literal(v, depth + 1)}," for v in value]
    return "[\n" + "\n".join(items) + f"\n{pad}]"


def _fits(inline: str, depth: int, prefix: int) -> bool:
    return len(_INDENT) * depth + prefix + len(inline) + 1 <= _WIDTH


def _py_inline(value: Any) -> str:
    if isinstance(value, str):
        return _py_str(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} cannot be sent as JSON.")
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py_inline(k)}: {_py_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py_inline(v) for v in value) + "]"
    raise TypeError(f"Cannot write a {type(value).__name__} as a request value.")


_PY_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _py_str(text: str) -> str:
    """A double-quoted Python literal: printable characters as they are (unicode too),
    everything else escaped, so the source shows exactly what is sent."""
    out = []
    for char in text:
        if char in _PY_ESCAPES:
            out.append(_PY_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return '"' + "".join(out) + '"'


# JSON --------------------------------------------------------------------------------------

def _json_body(request: dict[str, Any]) -> str:
    """The body as the SDK sends it, with unicode as it is, one member per line and short
    arrays and objects inline. Unprintable characters that JSON allows raw (DEL, line
    separators, lone surrogates, ...) are escaped, so the heredoc stays readable, no
    terminal eats them and the text is valid UTF-8."""
    body = _json_literal(request, 0, 0)
    return "".join(ch if ch.isprintable() or ch in "\n " else _json_escape(ch) for ch in body)


def _json_literal(value: Any, depth: int, prefix: int) -> str:
    inline = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    if not isinstance(value, (list, tuple, dict)) or (depth > 0 and _fits(inline, depth, prefix)):
        return inline
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        keys = [json.dumps(str(k), ensure_ascii=False) for k in value]
        items = [f"{inner}{key}: {_json_literal(v, depth + 1, len(key) + 2)}"
                 for key, v in zip(keys, value.values())]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{_json_literal(v, depth + 1, 0)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# Helpers -------------------------------------------------------------------------------------

def _check_endpoint(endpoint: str) -> None:
    if endpoint not in _PATHS:
        raise ValueError(f"Unknown endpoint {endpoint!r}; expected 'completions' or 'chat'.")


def _is_openai_default(base_url: str | None) -> bool:
    return base_url is None or base_url.rstrip("/") == OPENAI_BASE_URL


def _key_required(base_url: str | None, key_required: bool | None) -> bool:
    if key_required is not None:
        return key_required
    host = urlsplit(base_url or OPENAI_BASE_URL).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com")
