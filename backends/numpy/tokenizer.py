"""Characters <-> token ids: every distinct character gets an id, plus one BOS id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class CharTokenizer:
    """`chars[i]` has id i (chars sorted); BOS = len(chars) marks both start and end."""

    chars: tuple[str, ...]
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {char: i for i, char in enumerate(self.chars)})

    @classmethod
    def from_docs(cls, docs: Sequence[str]) -> "CharTokenizer":
        return cls(tuple(sorted(set("".join(docs)))))

    @property
    def bos(self) -> int:
        return len(self.chars)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[char] for char in text]
        except KeyError as error:
            raise KeyError(f"character {error.args[0]!r} is not in the tokenizer's vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        for i in ids:
            if not 0 <= i <= self.bos:
                raise ValueError(f"token id {i} is outside 0..{self.bos}")
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def sequence(self, doc: str) -> list[int]:
        """What a document trains on: [BOS] + its ids + [BOS]."""
        return [self.bos, *self.encode(doc), self.bos]
