"""Presets on a prompt page: load, save, delete, and a shareable link to the settings.

A preset fills the page's widgets: the prompt, every parameter (those it does not name go
back to their defaults) and, when it names one, the model. The page's URL carries the
settings of its last run or save (``st.query_params``, ``playground.presets`` packing);
opening such a URL restores them once per session and link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import streamlit as st

from playground import params as specs
from playground import presets
from playground.presets import Preset, PresetError, PresetStore
from ui.common import params, state
from ui.common.text import plain
from ui.completions import keys


class PresetsPanel:
    """The panel of one endpoint's page, whose prompt widget has the key ``prompt_key``."""

    def __init__(self, endpoint: str, prompt_key: str):
        self.endpoint = endpoint
        self.prompt_key = prompt_key
        self.link_slot = None

    def key(self, field: str) -> str:
        return keys.preset_field(field, self.endpoint)

    def render(self) -> None:
        """Apply a shared link the URL holds, then draw the picker, Load and Delete."""
        self._restore_link()
        store = PresetStore()
        choices = {p.name: p for p in presets.all_presets(self.endpoint, store)}
        mine = {p.name for p in store.load(self.endpoint)}
        saved = st.session_state.pop(self.key("saved"), None)
        if saved in choices:
            st.session_state[self.key("pick")] = saved
            st.session_state[self.key("name")] = ""
        notice = st.session_state.pop(self.key("notice"), None)
        if notice:
            st.info(plain(notice), icon=":material/bookmarks:")
        with st.expander("Presets", icon=":material/bookmarks:"):
            for problem in store.skipped:
                st.caption(plain(f"Skipped a saved preset: {problem}"))
            if st.session_state.get(self.key("pick")) not in choices:
                st.session_state[self.key("pick")] = next(iter(choices))
            name = st.selectbox("Preset", list(choices), key=self.key("pick"),
                                format_func=lambda n: f"{n} (yours)" if n in mine else n)
            st.caption(plain(choices[name].description or "Saved by you."))
            load, delete = st.columns(2)
            load.button("Load", icon=":material/download:", width="stretch",
                        on_click=self._load, args=(choices[name],),
                        help="Replace the prompt and every setting with the preset's.")
            if name in mine:
                delete.button("Delete", icon=":material/delete:", width="stretch",
                              on_click=self._delete, args=(name,))
            self.link_slot = st.empty()
            self._show_link(st.query_params.to_dict())

    def save_controls(self) -> bool:
        """Inside the page's form: a name field and a Save button; True when clicked."""
        name, button = st.columns([3, 1], vertical_alignment="bottom")
        name.text_input("Save as preset", key=self.key("name"), placeholder="Preset name",
                        max_chars=presets.MAX_NAME_CHARS, label_visibility="collapsed")
        with button:
            return st.form_submit_button(
                "Save preset", icon=":material/bookmark_add:",
                help="Save the prompt, the model and every setting under the name on the "
                     "left (in the data folder; never a key).")

    def save(self, request: dict[str, Any], fallback=st) -> None:
        """Save the settings of ``request`` under the typed name, then rerun to list it."""
        name = (st.session_state.get(self.key("name")) or "").strip()
        try:
            PresetStore().save(from_request(self.endpoint, request, name))
        except (PresetError, OSError) as exc:
            fallback.error(plain(f"Not saved: {exc}"))
            return
        st.session_state[self.key("saved")] = name
        st.session_state[self.key("notice")] = f"Saved the preset {name!r}."
        st.rerun()

    def share(self, request: dict[str, Any]) -> None:
        """Put the settings of ``request`` into the page's URL, and show the link."""
        try:
            query = presets.to_query_params(from_request(self.endpoint, request, "Shared settings"))
            problem = None
        except PresetError as exc:
            query, problem = {}, str(exc)
        st.session_state[self.key("link")] = _identity(query)
        st.query_params.from_dict(query)
        self._show_link(query, problem)

    def _show_link(self, query: Mapping[str, str], problem: str | None = None) -> None:
        if self.link_slot is None:
            return
        if problem or presets.QUERY_KEY not in query:
            self.link_slot.caption(plain(problem or "Run or save, and the page's address "
                                         "becomes a link to these settings."))
            return
        url = quote(f"{st.context.url or ''}?{urlencode(query)}", safe=":/?&=%#")
        self.link_slot.markdown(f":material/link: [Link to the settings of the last run or "
                                f"save]({url}) (also in the address bar): opening it "
                                f"restores them.")

    def _restore_link(self) -> None:
        query = st.query_params.to_dict()
        if presets.QUERY_KEY not in query and "endpoint" not in query:
            return
        identity = _identity(query)
        if st.session_state.get(self.key("link")) == identity:
            return
        st.session_state[self.key("link")] = identity
        try:
            preset = presets.from_query_params(query)
        except PresetError as exc:
            st.session_state[self.key("notice")] = f"The link's settings were not loaded: {exc}"
            return
        if preset.endpoint != self.endpoint:
            st.session_state[self.key("notice")] = (
                f"The link holds {preset.endpoint} settings; open it on that page.")
            return
        self._load(preset)
        st.rerun()  # the sidebar, drawn already, picks up the link's model

    def _load(self, preset: Preset) -> None:
        st.session_state[self.prompt_key] = preset.prompt or ""
        params.set_values(self.endpoint, preset.values)
        if preset.model:
            state.send_model(preset.model)
        st.session_state[self.key("notice")] = f"Loaded {preset.name!r}."

    def _delete(self, name: str) -> None:
        try:
            PresetStore().delete(self.endpoint, name)
        except OSError as exc:
            st.session_state[self.key("notice")] = f"Could not delete {name!r}: {exc}"
            return
        st.session_state[self.key("notice")] = f"Deleted {name!r}."


def from_request(endpoint: str, request: dict[str, Any], name: str) -> Preset:
    """A preset of what ``request`` sends: its model, prompt and parameters."""
    known = specs.specs_for(endpoint)
    return Preset(name, endpoint, model=request.get("model"), prompt=request.get("prompt"),
                  values={k: v for k, v in request.items() if k in known})


def _identity(query: Mapping[str, Any]) -> str:
    return json.dumps(sorted(query.items()), ensure_ascii=False)
