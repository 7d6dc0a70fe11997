"""The character tokenizer: each distinct character is a token, plus BOS."""

from __future__ import annotations

from typing import Sequence


class CharTokenizer:
    """ids 0..len(chars)-1 are the sorted distinct characters of the documents;
    `bos = len(chars)` marks both the start and the end of a document."""

    def __init__(self, docs: Sequence[str]) -> None:
        self.chars: list[str] = sorted(set("".join(docs)))
        self.bos: int = len(self.chars)
        self.vocab_size: int = len(self.chars) + 1
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        """The id of each character of `text`; ValueError names an unknown character."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as error:
            raise ValueError(
                f"character {error.args[0]!r} is not in the vocabulary "
                f"({self._vocabulary_preview()})"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of `ids`, joined; BOS is not a character and is skipped."""
        for i in ids:
            if not 0 <= i <= self.bos:
                raise ValueError(f"token id {i} is outside 0..{self.bos} (BOS is {self.bos})")
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def sequence(self, doc: str) -> list[int]:
        """What one document trains on: [BOS] + its characters + [BOS]."""
        return [self.bos] + self.encode(doc) + [self.bos]

    def _vocabulary_preview(self, limit: int = 40) -> str:
        text = "".join(self.chars)
        shown = text if len(text) <= limit else text[:limit] + "..."
        return f"{len(self.chars)} characters: {shown!r}"

    def __repr__(self) -> str:
        return f"CharTokenizer({self._vocabulary_preview()})"
