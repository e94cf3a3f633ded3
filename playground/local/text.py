"""Turn generated token bytes into text, honouring stop sequences while streaming.

Tokens can end in the middle of a UTF-8 character, and a stop sequence can span several
tokens, so text is only released once it can no longer turn into (part of) a stop
sequence; the stop sequence itself is never released.
"""

from __future__ import annotations

import codecs


class TextAssembler:
    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self._released = 0
        self.stopped = False

    @property
    def released(self) -> int:
        """How many characters of ``text`` were handed out so far."""
        return self._released

    def feed(self, piece: bytes) -> str:
        """Add a token's bytes; return the text that is now safe to send."""
        if self.stopped:
            return ""
        self.text += self._decoder.decode(piece)
        cut = self._first_stop()
        if cut is not None:
            self.text = self.text[:cut]
            self.stopped = True
            return self._release(len(self.text))
        return self._release(len(self.text) - self._held_back())

    def finish(self) -> str:
        """No more tokens: release whatever was held back."""
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
        return self._release(len(self.text))

    def _release(self, end: int) -> str:
        end = max(end, self._released)
        released = self.text[self._released:end]
        self._released = end
        return released

    def _first_stop(self) -> int | None:
        # A stop can only newly appear in the tail that was not yet released.
        longest = max((len(s) for s in self.stops), default=0)
        start = max(0, self._released - longest)
        found = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        return min(found) if found else None

    def _held_back(self) -> int:
        """Length of the longest text tail that could still grow into a stop sequence."""
        held = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.text)), held, -1):
                if self.text.endswith(stop[:size]):
                    held = size
                    break
        return held
