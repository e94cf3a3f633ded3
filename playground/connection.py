"""Connections: which endpoint to talk to, with which key, and the client for it.

Resolution order for the key, base URL and organization, first found wins:
value typed in the sidebar (session only) > ``.streamlit/secrets.toml`` > the environment
and ``.env`` (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``) > the preset.
``resolve`` records where it found the key (``Connection.key_source``), so that order lives
here alone. Keys are never written to disk: saved connections keep everything but the key.

A configured key is bound to its address: a key (and organization) from secrets.toml or
the environment goes only to the base URL configured in the same place (that place's
``OPENAI_BASE_URL``, else OpenAI's). Sent anywhere else (a base URL typed in the browser, a
saved connection pointing elsewhere), a visitor could read the owner's key off the wire;
there only a key typed for it is used, and ``Connection.key_withheld`` says which key was
held back and where it does go.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import openai
from dotenv import dotenv_values

from playground import errors
from playground.settings import data_dir, write_private

Kind = Literal["local", "openai", "custom"]
# Where resolve() found the key: typed in the sidebar, already on the connection (set by
# code: saved connections hold no key), .streamlit/secrets.toml, the environment or .env.
KeySource = Literal["typed", "connection", "secrets", "environment"]

LOCAL_NAME = "Local models"
OPENAI_URL = "https://api.openai.com/v1"  # where a configured key goes by default
KEYLESS = "no-key"  # the SDK insists on a key; keyless servers ignore this one
CONNECT_TIMEOUT = 5.0  # seconds to establish a connection, at most
# What a user may set (sidebar, connections.json): the timeout in seconds, the SDK's retries.
TIMEOUT_LIMITS = (1.0, 600.0)
RETRY_LIMITS = (0, 10)


@dataclass(frozen=True)
class WithheldKey:
    """A configured key resolve did not use, because it belongs to another address."""

    source: KeySource  # "secrets" or "environment"
    bound_to: str  # the only base URL it is sent to


@dataclass(frozen=True)
class Connection:
    """An endpoint as the user configured it. ``base_url`` None means "the local server"."""

    name: str
    kind: Kind = "custom"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    organization: str | None = None
    timeout: float = 120.0
    max_retries: int = 2
    # Set by resolve(); say nothing about the endpoint, so they are neither compared nor saved.
    key_source: KeySource | None = field(default=None, compare=False)
    key_withheld: WithheldKey | None = field(default=None, compare=False)

    @property
    def needs_key(self) -> bool:
        return self.kind == "openai"

    def without_key(self) -> dict:
        """What is saved: every field but the key and where it came from."""
        return {name: value for name, value in asdict(self).items() if name not in _UNSAVED}


_UNSAVED = frozenset({"api_key", "key_source", "key_withheld"})


PRESETS: tuple[Connection, ...] = (
    Connection(LOCAL_NAME, kind="local"),
    Connection("OpenAI", kind="openai", base_url=OPENAI_URL),
    Connection("Ollama", base_url="http://localhost:11434/v1"),
    Connection("vLLM", base_url="http://localhost:8000/v1"),
    Connection("LM Studio", base_url="http://localhost:1234/v1"),
    Connection("llama.cpp server", base_url="http://localhost:8080/v1"),
)


def preset(name: str) -> Connection:
    return next(conn for conn in PRESETS if conn.name == name)


def mask_key(key: str | None) -> str:
    """Show enough of a key to recognise it, never enough to use it."""
    if not key:
        return "(none)"
    return f"{key[:3]}…{key[-4:]}" if len(key) > 12 else "…" * 3


def environment_settings(env_file: str | Path = ".env") -> dict[str, str]:
    """OPENAI_* settings from the process environment, then from ``.env``."""
    merged = {k: v for k, v in dotenv_values(env_file).items() if v}
    merged.update({k: v for k, v in os.environ.items() if k.startswith("OPENAI_") and v})
    return merged


def resolve(
    conn: Connection,
    *,
    typed_key: str | None = None,
    typed_base_url: str | None = None,
    secrets: Mapping[str, str] | None = None,
    environment: Mapping[str, str] | None = None,
) -> Connection:
    """Fill key, base URL and organization in the documented order of precedence, and
    record in ``key_source`` where the key was found.

    Only the OpenAI preset (and connections saved from it) reads the OPENAI_* settings, and
    a configured key or organization only where its place's base URL is the one used (see
    the module docstring); a key held back is named in ``key_withheld``. The local
    connection needs no key and ignores OPENAI_BASE_URL, meant for a remote endpoint.
    """
    if conn.kind == "local":
        return conn
    layers: list[tuple[KeySource, Mapping[str, str]]] = []
    if conn.needs_key:
        layers = [("secrets", secrets or {}),
                  ("environment", environment if environment is not None
                   else environment_settings())]
    base_url = (typed_base_url or _first(layers, "OPENAI_BASE_URL")[0] or conn.base_url)
    bound = [(source, layer) for source, layer in layers
             if _same_address(_bound_to(layer), base_url)]
    key, key_source = next(
        (found for found in ((typed_key, "typed"), (conn.api_key, "connection"),
                             _first(bound, "OPENAI_API_KEY")) if found[0]),
        (None, None))
    withheld = None
    if key is None and (source := _first(layers, "OPENAI_API_KEY")[1]) is not None:
        withheld = WithheldKey(source, _bound_to(dict(layers)[source]))
    organization = conn.organization or _first(bound, "OPENAI_ORG_ID")[0]
    return replace(conn, api_key=key, key_source=key_source, key_withheld=withheld,
                   base_url=base_url, organization=organization)


def _first(layers: list[tuple[KeySource, Mapping[str, str]]],
           name: str) -> tuple[str | None, KeySource | None]:
    """The first layer's value of an OPENAI_* setting, and which layer that was."""
    for source, layer in layers:
        if layer.get(name):
            return str(layer[name]), source
    return None, None


def _bound_to(layer: Mapping[str, str]) -> str:
    """The base URL a layer's key and organization go to: its own, or OpenAI's."""
    return str(layer.get("OPENAI_BASE_URL") or OPENAI_URL)


def _same_address(one: str | None, other: str | None) -> bool:
    """Whether two base URLs name the same endpoint (scheme and host in any case, a
    trailing slash or not)."""
    if not one or not other:
        return False

    def normal(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")

    return normal(one) == normal(other)


def base_url_of(conn: Connection) -> str:
    """The connection's base URL, starting the local server if it is the local one."""
    if conn.kind == "local":
        from playground.local.launcher import local_server

        return local_server().ensure_running()
    if not conn.base_url:
        raise errors.ConnectionFailed(f"The connection {conn.name!r} has no base URL.")
    return conn.base_url


def client_for(conn: Connection) -> openai.OpenAI:
    """An SDK client for the connection, reused so its connection pool stays warm."""
    if conn.needs_key and not conn.api_key:
        if conn.key_withheld:
            raise errors.AuthenticationFailed(
                f"The connection {conn.name!r} needs an API key for {conn.base_url}, and the "
                f"configured OPENAI_API_KEY is only sent to {conn.key_withheld.bound_to}.",
                hint="Type a key for this address in the sidebar, or set OPENAI_BASE_URL "
                     "beside OPENAI_API_KEY if the key belongs to it.")
        raise errors.AuthenticationFailed(
            f"The connection {conn.name!r} needs an API key and none was found.",
            hint="Type it in the sidebar, or set OPENAI_API_KEY in the environment, .env "
                 "or .streamlit/secrets.toml.",
        )
    settings = (base_url_of(conn), conn.api_key or KEYLESS, conn.organization,
                conn.timeout, conn.max_retries)
    with _client_lock:  # threads asking at once must share one client, not build several
        return _client(*settings)


_client_lock = threading.Lock()


@lru_cache(maxsize=32)
def _client(base_url: str, api_key: str, organization: str | None, timeout: float,
            max_retries: int) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key,
        organization=organization,
        # Connecting takes at most 5 s, and never longer than the connection's own timeout.
        timeout=openai.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        max_retries=max_retries,
    )


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    message: str
    hint: str = ""
    model_count: int = 0
    seconds: float = 0.0
    error_kind: str | None = None  # the PlaygroundError class name when ok is False
    # The failure itself, for what only it carries (a crashed local server's log).
    error: errors.PlaygroundError | None = field(default=None, compare=False, repr=False)


def check_connection(conn: Connection) -> ConnectionReport:
    """Reachability, authentication and model count, as one message per outcome."""
    started = time.perf_counter()
    sent = time.monotonic()
    try:
        client = client_for(replace(conn, max_retries=0, timeout=min(conn.timeout, 15.0)))
        count = len(list(client.models.list()))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a report
        error = _listing_error(exc, conn, sent)
        return ConnectionReport(False, str(error), error.hint,
                                seconds=time.perf_counter() - started, error_kind=error.kind,
                                error=error)
    seconds = time.perf_counter() - started
    return ConnectionReport(True, f"Connected: {count} models, answered in {seconds:.2f} s.",
                            model_count=count, seconds=seconds)


def list_models(conn: Connection) -> list[dict]:
    """The models the endpoint reports, as plain dicts with every field it sent."""
    sent = time.monotonic()
    try:
        return [model.model_dump() for model in client_for(conn).models.list()]
    except Exception as exc:
        raise _listing_error(exc, conn, sent) from exc


def _listing_error(exc: Exception, conn: Connection, sent: float) -> errors.PlaygroundError:
    """A 404 for the model list is about the base URL, not a model to pick."""
    error = failure_of(exc, conn, sent)
    if isinstance(error, errors.ModelNotFound):
        return errors.ModelNotFound(
            f"The endpoint lists no models: {conn.base_url or 'the base URL'}/models answered "
            f"404.",
            hint="Check the base URL: OpenAI-compatible servers answer /models under it, "
                 "usually a path ending in /v1. A model id can still be typed in the sidebar.",
            status=error.status)
    return error


def retrieve_model(conn: Connection, model_id: str) -> dict:
    sent = time.monotonic()
    try:
        return client_for(conn).models.retrieve(model_id).model_dump()
    except Exception as exc:
        raise failure_of(exc, conn, sent) from exc


def failure_of(exc: Exception, conn: Connection, sent: float) -> errors.PlaygroundError:
    """``exc`` in the core's error tree; but when the connection to the local server broke
    or was refused because its process died after the request was sent (at ``sent``,
    ``time.monotonic()``), that crash, so the user looks at the server, not the URL."""
    error = errors.from_openai(exc)
    if conn.kind != "local" or not isinstance(error, (errors.ConnectionFailed,
                                                      errors.StreamInterrupted)):
        return error
    from playground.local.launcher import local_server

    return local_server().crash_behind(sent) or error


class SavedConnections:
    """Connections the user saved, kept in a JSON file without their keys.

    The file may be edited by hand: ``load`` skips an entry without a name and brings a
    timeout or retry count outside its limits back within them, and says so in
    ``problems``. Saving never drops what it could not read: entries without a name are
    written back as they were, and a file that is no JSON list at all is kept beside the
    new one.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "connections.json"
        self.problems: list[str] = []  # what the last load or save found wrong, one each

    def load(self) -> list[Connection]:
        self.problems = []
        return [conn for row in self._rows() or [] if (conn := self._parse(row)) is not None]

    def save(self, conn: Connection) -> None:
        self._replace(conn.name, conn.without_key())

    def delete(self, name: str) -> None:
        self._replace(name, None)

    def _rows(self) -> list | None:
        """The file's entries as written: [] when there is no file, None (and a problem
        said) when it cannot be read as a JSON list."""
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
            self.problems.append(f"{self.path.name} cannot be read ({exc}), so no saved "
                                 f"connection is shown; saving one keeps it aside.")
            return None
        if not isinstance(rows, list):
            self.problems.append(f"{self.path.name} holds no list of connections, so none is "
                                 f"shown; saving one keeps it aside.")
            return None
        return rows

    def _replace(self, name: str, row: dict | None) -> None:
        """Write the file with ``row`` in place of the entry named ``name`` (None: without it)."""
        self.problems = []
        rows = self._rows()
        if rows is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = self.path.with_name(f"{self.path.name}.unreadable-{stamp}")
            self.path.replace(aside)
            self.problems = [f"{self.path.name} could not be read; it is kept as {aside.name}."]
            rows = []
        kept = []
        for entry in rows:
            conn = self._parse(entry)
            if conn is None:  # skipped by load: written back as it was, but for a key
                kept.append({k: v for k, v in entry.items() if k not in _UNSAVED}
                            if isinstance(entry, dict) else entry)
            elif conn.name != name:
                kept.append(conn.without_key())
        self._write(kept + ([row] if row is not None else []))

    def _parse(self, row) -> Connection | None:
        """The connection an entry describes, within limits; None (said) without a name."""
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"]:
            self.problems.append(f"{self.path.name}: an entry without a name was skipped.")
            return None
        known = set(Connection.__dataclass_fields__) - _UNSAVED
        return self._within_limits(Connection(**{k: v for k, v in row.items() if k in known}))

    def _write(self, rows: list) -> None:
        tmp = self.path.with_suffix(".tmp")
        write_private(tmp, json.dumps(rows, indent=2))
        tmp.replace(self.path)

    def _within_limits(self, conn: Connection) -> Connection:
        fixed = {}
        for name, (low, high), what in _LIMITED:
            value = getattr(conn, name)
            default = getattr(Connection, name)  # the class attribute is the field's default
            fixed[name] = _within(value, (low, high), default)
            if fixed[name] != value:
                self.problems.append(
                    f"Saved connection {conn.name!r}: {name} {value!r} is not {what} from "
                    f"{low:g} to {high:g}; using {fixed[name]:g}.")
        return replace(conn, **fixed)


_LIMITED = (("timeout", TIMEOUT_LIMITS, "a number of seconds"),
            ("max_retries", RETRY_LIMITS, "a whole number"))


def _within(value: object, limits: tuple[float, float] | tuple[int, int],
            default: float | int) -> float | int:
    """``value`` brought within ``limits``, of their type; ``default`` when it is no number
    (or, for int limits, no whole number)."""
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return default  # value != value: NaN
    if isinstance(low, int) and not (isinstance(value, int) or value.is_integer()):
        return default
    return type(low)(min(max(value, low), high))


def all_connections(saved: SavedConnections | None = None) -> list[Connection]:
    """Presets first, then the user's saved connections (a saved one overrides a preset)."""
    saved_conns = (saved or SavedConnections()).load()
    saved_names = {c.name for c in saved_conns}
    return [c for c in PRESETS if c.name not in saved_names] + saved_conns
