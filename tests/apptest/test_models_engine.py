"""The Models page says which engine settings a local model runs with, and why, and how
the server computes it (threads, requests decoded together)."""

from __future__ import annotations

import re

import openai

from ui.common import pages

MODEL = "smollm2-135m-instruct"


def test_a_local_model_shows_its_engine_settings_and_why(app, local_base_url):
    client = openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=0, timeout=120)
    client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)  # loaded: settings chosen
    app.switch_page(pages.MODELS).run()
    app.selectbox[-1].select(MODEL).run()
    assert not app.exception, app.exception
    captions = " ".join(caption.value.replace("\\", "") for caption in app.caption)
    assert re.search(r"Engine settings: (fast|safe), because \S", captions), captions
    described = client.models.retrieve(MODEL).model_dump()
    assert (f"On this server it computes on {described['threads']} CPU thread"
            in captions), captions
    assert f"decodes up to {described['parallel_sequences']} requests together" in captions
