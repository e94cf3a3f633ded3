from __future__ import annotations

import httpx2
import openai
import pytest


@pytest.fixture(scope="session")
def client(local_base_url) -> openai.OpenAI:
    """The real SDK pointed at the test run's local server."""
    return openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def tokenize(local_base_url):
    """Token ids of a text, from the server's /tokenize extension."""
    root = local_base_url.removesuffix("/v1")

    def ids(model: str, text: str) -> list[int]:
        answer = httpx2.post(f"{root}/tokenize", json={"model": model, "text": text}, timeout=60)
        answer.raise_for_status()
        return answer.json()["tokens"]

    return ids
