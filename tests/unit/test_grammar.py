"""The grammar constraint over SmolLM2's real vocabulary (its header only, no weights)."""

from __future__ import annotations

import json

import jsonschema
import llama_cpp
import numpy as np
import pytest
from llama_cpp import Llama

from playground.local.grammar import (
    JSON_OBJECT_GRAMMAR,
    Grammar,
    GrammarError,
    Vocabulary,
    schema_grammar,
)
from playground.local.served_models import DEFAULT_MODEL, discover

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"},
        "colour": {"type": "string", "enum": ["red", "green", "blue"]},
    },
    "required": ["name", "age", "colour"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def header() -> Llama:
    return Llama(str(discover()[DEFAULT_MODEL].locate()), vocab_only=True, verbose=False)


@pytest.fixture(scope="module")
def vocabulary(header) -> Vocabulary:
    return Vocabulary.of(header._model.vocab, header.n_vocab())


def _ends(header: Llama, token: int) -> bool:
    return bool(llama_cpp.llama_vocab_is_eog(header._model.vocab, token))


def _walk(header: Llama, grammar: Grammar, seed: int, limit: int = 200) -> tuple[bytes, bool]:
    """Sample tokens from random logits through the constraint: the text, and whether an
    end token came."""
    rng = np.random.default_rng(seed)
    constraint = grammar.constraint()
    text = b""
    for _ in range(limit):
        logits = constraint.mask(rng.standard_normal(header.n_vocab()).astype(np.float32) * 3)
        allowed = np.flatnonzero(np.isfinite(logits))
        token = int(rng.choice(allowed))
        if _ends(header, token):
            return text, True
        constraint.accept(token)
        text += header.detokenize([token])
    return text, False


@pytest.mark.parametrize("seed", range(4))
def test_random_walks_end_in_json_of_the_schema(header, vocabulary, seed):
    text, ended = _walk(header, Grammar(vocabulary, schema_grammar(SCHEMA)), seed)
    assert ended, text
    jsonschema.validate(json.loads(text), SCHEMA)


def test_the_end_token_is_allowed_only_once_the_json_is_complete(header, vocabulary):
    constraint = Grammar(vocabulary, schema_grammar(
        {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
         "additionalProperties": False})).constraint()
    end = llama_cpp.llama_vocab_eos(header._model.vocab)
    tokens = header.tokenize(b'{"ok":true}', add_bos=False, special=False)
    for token in tokens:
        logits = constraint.mask(np.zeros(header.n_vocab(), dtype=np.float32))
        assert logits[end] == -np.inf
        constraint.accept(token)
    assert np.isfinite(constraint.mask(np.zeros(header.n_vocab(), dtype=np.float32))[end])


def test_control_tokens_and_raw_newlines_are_never_allowed_in_a_string(header, vocabulary):
    constraint = Grammar(vocabulary, schema_grammar(SCHEMA)).constraint()
    for token in header.tokenize(b'{"name": "ab', add_bos=False, special=False):
        constraint.mask(np.zeros(header.n_vocab(), dtype=np.float32))
        constraint.accept(token)
    logits = constraint.mask(np.zeros(header.n_vocab(), dtype=np.float32))
    start = header.tokenize(b"<|im_start|>", add_bos=False, special=True)
    newline = header.tokenize(b"\n", add_bos=False, special=False)
    assert len(start) == 1 and len(newline) == 1
    assert logits[start[0]] == -np.inf and logits[newline[0]] == -np.inf
    letter = header.tokenize(b"c", add_bos=False, special=False)[0]
    assert np.isfinite(logits[letter])


def test_mask_keeps_the_logits_of_allowed_tokens(header, vocabulary):
    constraint = Grammar(vocabulary, JSON_OBJECT_GRAMMAR).constraint()
    raw = np.random.default_rng(1).standard_normal(header.n_vocab()).astype(np.float32)
    masked = constraint.mask(raw)
    allowed = np.isfinite(masked)
    assert 0 < allowed.sum() < 100
    assert np.array_equal(masked[allowed], raw[allowed])
    opening = header.tokenize(b"{", add_bos=False, special=False)[0]
    quote = header.tokenize(b'"', add_bos=False, special=False)[0]
    assert allowed[opening] and not allowed[quote]


def test_a_token_the_mask_refused_is_refused_before_it_reaches_llama_cpp(header, vocabulary):
    constraint = Grammar(vocabulary, JSON_OBJECT_GRAMMAR).constraint()
    constraint.mask(np.zeros(header.n_vocab(), dtype=np.float32))
    quote = header.tokenize(b'"', add_bos=False, special=False)[0]
    with pytest.raises(GrammarError):
        constraint.accept(quote)


def test_assertions_the_grammar_cannot_enforce_are_refused():
    schema = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}},
              "required": ["age"], "additionalProperties": False}
    with pytest.raises(GrammarError, match="'minimum' .*#/properties/age"):
        schema_grammar(schema)


def test_a_property_named_like_a_keyword_is_fine():
    schema = {"type": "object", "properties": {"minimum": {"type": "number"}},
              "required": ["minimum"], "additionalProperties": False}
    assert "minimum" in schema_grammar(schema)


def test_a_schema_the_converter_cannot_read_is_a_grammar_error():
    with pytest.raises(GrammarError):
        schema_grammar({"$ref": "https://example.com/schema.json"})
