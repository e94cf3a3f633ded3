"""Grammar-constrained decoding: replies that are always JSON, or JSON of a given schema.

A JSON schema is turned into a GBNF grammar by llama-cpp-python's converter, and llama.cpp's
grammar sampler decides, for every token of the vocabulary at once (in C), whether it can
continue the text generated so far. ``Constraint.mask`` sets every other token's logit to
-inf; the end-of-generation tokens stay allowed only once the grammar is complete, so a
reply that ends by itself is valid JSON of the schema. A reply cut short by its token limit
is not, as at OpenAI (finish_reason "length").

Each choice needs its own ``Constraint``: it follows the tokens that choice accepted.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.llama_grammar import JSON_GBNF, BuiltinRule, SchemaConverter

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
# A JSON string character: anything but a quote, a backslash or a control character, or an
# escape. The converter's own rule lets raw control characters (a newline) into strings,
# which JSON parsers refuse.
_JSON_CHAR = BuiltinRule(
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] '
    r'| "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])',
    [],
)


class GrammarError(ValueError):
    """A schema that cannot be turned into a grammar, or a grammar llama.cpp refuses."""


class _JsonSchemaConverter(SchemaConverter):
    def _add_primitive(self, name: str, rule: BuiltinRule) -> str:
        return super()._add_primitive(name, _JSON_CHAR if name == "char" else rule)


# Assertions the converter leaves out of the grammar: a schema using them is refused rather
# than answered with JSON that may break them.
_UNENFORCED = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems",
    "not", "if", "then", "else", "patternProperties", "propertyNames", "minProperties",
    "maxProperties", "dependentRequired", "dependentSchemas", "contains", "minContains",
    "maxContains", "unevaluatedProperties", "unevaluatedItems",
})


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar of the JSON texts that conform to ``schema``."""
    for keyword, where in _unenforced(schema):
        raise GrammarError(f"the local server cannot enforce '{keyword}' (at {where}); "
                           "remove it from the schema")
    converter = _JsonSchemaConverter(prop_order={}, allow_fetch=False, dotall=False,
                                     raw_pattern=False)
    try:
        resolved = converter.resolve_refs(json.loads(json.dumps(schema)), "request")
        converter.visit(resolved, "")
        grammar = converter.format_grammar()
    except Exception as exc:
        raise GrammarError(str(exc) or type(exc).__name__) from exc
    return grammar


def _unenforced(node: Any, path: tuple[str, ...] = ()):
    """(keyword, where) for each assertion in the schema that the grammar would not enforce."""
    if isinstance(node, list):
        for position, item in enumerate(node):
            yield from _unenforced(item, (*path, str(position)))
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _UNENFORCED:
            yield key, "/".join(("#", *path))
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                yield from _unenforced(sub, (*path, key, name))
        elif key not in ("enum", "const", "required", "default", "examples"):
            yield from _unenforced(value, (*path, key))


JSON_OBJECT_GRAMMAR = JSON_GBNF  # JSON mode: any JSON object


@dataclass(frozen=True)
class Vocabulary:
    """What a grammar needs of a model: its vocabulary, and the control tokens that are not
    end-of-generation (their text is never shown, so a grammar must not count on it)."""

    vocab: Any  # llama_vocab pointer, alive as long as the model
    size: int
    hidden: np.ndarray  # token ids

    @classmethod
    def of(cls, vocab: Any, size: int) -> Vocabulary:
        hidden = [token for token in range(size)
                  if llama_cpp.llama_vocab_is_control(vocab, token)
                  and not llama_cpp.llama_vocab_is_eog(vocab, token)]
        return cls(vocab, size, np.array(hidden, dtype=np.int64))


class Grammar:
    """A checked grammar over one vocabulary; ``constraint()`` starts a sequence on it."""

    def __init__(self, vocabulary: Vocabulary, gbnf: str):
        self.vocabulary, self.gbnf = vocabulary, gbnf
        Constraint(self).close()  # refuses a grammar llama.cpp cannot parse, up front

    def constraint(self) -> Constraint:
        return Constraint(self)


class Constraint:
    """The grammar's state for one sequence: which tokens may come next."""

    def __init__(self, grammar: Grammar):
        vocabulary = grammar.vocabulary
        sampler = llama_cpp.llama_sampler_init_grammar(vocabulary.vocab, grammar.gbnf.encode(),
                                                       b"root")
        if not sampler:
            raise GrammarError("llama.cpp could not parse the grammar made from the schema.")
        self._sampler = sampler
        self._hidden = vocabulary.hidden
        self._data = np.zeros(vocabulary.size, dtype=_TOKEN_DATA)
        self._data["id"] = np.arange(vocabulary.size, dtype=np.int32)
        self._array = llama_cpp.llama_token_data_array(
            data=self._data.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=vocabulary.size, selected=-1, sorted=False)
        self._allowed: np.ndarray | None = None

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """A copy of ``logits`` with every token the grammar does not allow next at -inf."""
        self._data["logit"] = logits
        self._data["logit"][self._hidden] = -np.inf
        self._array.size, self._array.selected, self._array.sorted = len(self._data), -1, False
        llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(self._array))
        masked = np.array(self._data["logit"], dtype=np.float32)
        self._allowed = np.isfinite(masked)
        return masked

    def accept(self, token: int) -> None:
        """Advance past ``token``, which the last ``mask`` must have allowed (llama.cpp
        aborts the whole process on a token its grammar cannot take)."""
        if self._allowed is None or not self._allowed[token]:
            raise GrammarError(f"token {token} does not continue the grammar")
        self._allowed = None
        llama_cpp.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        if self._sampler:
            llama_cpp.llama_sampler_free(self._sampler)
            self._sampler = None

    def __del__(self) -> None:
        self.close()
