"""The character tokenizer: each distinct character is a token, plus BOS.

YOU WRITE: the four methods marked below (spec area `tokenizer`). Start here: it is the
first area, and it needs no other part.

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=tokenizer
"""

from __future__ import annotations

from typing import Sequence


class CharTokenizer:
    """ids 0..len(chars)-1 are the sorted distinct characters of the documents;
    `bos = len(chars)` marks both the start and the end of a document."""

    def __init__(self, docs: Sequence[str]) -> None:
        """Set three attributes (and anything else you find useful, e.g. a char -> id dict):

            self.chars       sorted list of the distinct characters of all the docs
            self.bos         len(self.chars): the id after the last character
            self.vocab_size  len(self.chars) + 1: the characters and BOS

        Example: docs = ["emma", "ava"] gives chars = ['a', 'e', 'm', 'v'], bos = 4,
        vocab_size = 5. (On the names data set: a..z, bos = 26, vocab_size = 27.)
        """
        raise NotImplementedError(
            "tokenizer: CharTokenizer.__init__: chars = sorted distinct characters of the docs, "
            "bos = len(chars), vocab_size = len(chars) + 1"
        )

    def encode(self, text: str) -> list[int]:
        """The id of each character of `text`: its position in `self.chars`.

        A character that is not in the vocabulary raises ValueError (or KeyError) with a
        message that names the character, e.g. "character 'Q' is not in the vocabulary".

        Example: with chars ['a', 'e', 'm', 'v']: encode("emma") == [1, 2, 2, 0].
        """
        raise NotImplementedError(
            "tokenizer: CharTokenizer.encode: the index in chars of each character; an unknown "
            "character is a ValueError naming it"
        )

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of `ids`, joined into one string. BOS is not a character: skip it.

        Example: with chars ['a', 'e', 'm', 'v'] (bos 4): decode([4, 3, 0, 4]) == "va".
        """
        raise NotImplementedError(
            "tokenizer: CharTokenizer.decode: join chars[i] for each id, leaving BOS out"
        )

    def sequence(self, doc: str) -> list[int]:
        """What one document trains on: [bos] + encode(doc) + [bos].

        The first BOS is "a name starts here"; the last one teaches the model to end names.

        Example: with chars ['a', 'e', 'm', 'v']: sequence("ava") == [4, 0, 3, 0, 4].
        """
        raise NotImplementedError("tokenizer: CharTokenizer.sequence: [bos] + encode(doc) + [bos]")

    def _vocabulary_preview(self, limit: int = 40) -> str:
        """How error messages show the vocabulary. Written for you."""
        text = "".join(self.chars)
        shown = text if len(text) <= limit else text[:limit] + "..."
        return f"{len(self.chars)} characters: {shown!r}"

    def __repr__(self) -> str:
        if not hasattr(self, "chars"):
            return "CharTokenizer(not built yet)"
        return f"CharTokenizer({self._vocabulary_preview()})"
