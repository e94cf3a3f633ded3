"""Load a ``llama_cpp.Llama`` with or without llama.cpp's CPU-specific weight buffers.

llama.cpp may keep a model's weights in "extra buffer types": copies repacked for the
CPU's widest instructions (AVX-512, AMX). They are the fast settings, and on some CPUs
they crash inside ``decode`` (see ``engine_settings``). The safe settings switch them off
through ``llama_model_params.use_extra_bufts``, which ``Llama``'s constructor does not
expose: it builds ``self.model_params`` from llama.cpp's defaults and loads the model from
it. ``_Llama`` sets the field on that struct as it is assigned, before anything is loaded,
for this instance only.
"""

from __future__ import annotations

from pathlib import Path

from llama_cpp import Llama


class _Llama(Llama):
    def __init__(self, model_path: str, *, extra_buffers: bool, **kwargs):
        self._extra_buffers = extra_buffers
        super().__init__(model_path, **kwargs)

    @property
    def model_params(self):
        return self._model_params

    @model_params.setter
    def model_params(self, params) -> None:
        params.use_extra_bufts = self._extra_buffers
        self._model_params = params


def load(path: Path, *, fast: bool, **kwargs) -> Llama:
    """``Llama(path, **kwargs)`` with the fast (extra buffers) or the safe settings."""
    return _Llama(str(path), extra_buffers=fast, **kwargs)
