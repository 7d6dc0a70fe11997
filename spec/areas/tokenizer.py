"""Spec area `tokenizer`: characters in, token ids out, and back.

The rules (reference semantics):
* the vocabulary is the sorted list of the distinct characters of the documents;
  character `chars[i]` has id `i`;
* BOS, which marks both the start and the end of a document, is the next id:
  `bos == len(chars)`, and `vocab_size == len(chars) + 1`;
* a document trains as `[bos] + encode(doc) + [bos]`;
* `decode(encode(text)) == text` for any text over the vocabulary; BOS decodes to nothing;
* a character outside the vocabulary is an error that names the character.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.data import load_docs
from microgpt_spec.spec.assertions import expect, expect_raises
from microgpt_spec.spec.profiles import examples
from microgpt_spec.spec.strategies import documents

pytestmark = pytest.mark.tokenizer

# Letters, digits, punctuation and a few non-ASCII characters: the tokenizer must not
# assume lowercase a-z.
ALPHABET = "abcdezAZ09 -'éßü漢"


def _call(docs) -> str:
    return f"backend.build_tokenizer({docs!r})"


def _repro(docs, then: str) -> str:
    return f"tok = backend.build_tokenizer({docs!r})\n{then}"


@given(docs=documents(ALPHABET))
@settings(max_examples=examples(50))
def test_vocabulary_is_the_sorted_distinct_characters(backend, docs):
    tok = backend.build_tokenizer(docs)
    expected = sorted(set("".join(docs)))
    got = list(tok.chars)
    expect(got == expected, "tokenizer: the vocabulary is not the sorted distinct characters.",
           call=_call(docs) + ".chars", got=got, expected=expected,
           rule="chars = sorted(set(''.join(docs))): every character that occurs, once, in sorted order",
           repro=_repro(docs, "print(list(tok.chars))"))


@given(docs=documents(ALPHABET))
@settings(max_examples=examples(30))
def test_bos_follows_the_characters(backend, docs):
    tok = backend.build_tokenizer(docs)
    n = len(set("".join(docs)))
    got = (int(tok.bos), int(tok.vocab_size))
    expect(got == (n, n + 1), "tokenizer: BOS or vocab_size is wrong.",
           call=_call(docs) + ".bos, .vocab_size", got={"bos": got[0], "vocab_size": got[1]},
           expected={"bos": n, "vocab_size": n + 1},
           rule="BOS is the id after the last character: bos = len(chars); vocab_size = len(chars) + 1 "
                "(BOS = 0 would collide with the first character)",
           repro=_repro(docs, "print(tok.bos, tok.vocab_size)"))


@given(data=st.data(), docs=documents(ALPHABET))
@settings(max_examples=examples(50))
def test_encode_gives_each_character_its_index(backend, data, docs):
    tok = backend.build_tokenizer(docs)
    chars = sorted(set("".join(docs)))
    text = data.draw(st.text(alphabet=chars, max_size=20), label="text")
    got = list(tok.encode(text))
    expected = [chars.index(c) for c in text]
    expect(got == expected, "tokenizer: encode gave the wrong ids.",
           call=f"tok.encode({text!r})", inputs={"docs": docs}, got=got, expected=expected,
           rule="the id of a character is its position in the sorted vocabulary",
           repro=_repro(docs, f"print(tok.encode({text!r}))"))


@given(data=st.data(), docs=documents(ALPHABET))
@settings(max_examples=examples(50))
def test_decode_inverts_encode(backend, data, docs):
    tok = backend.build_tokenizer(docs)
    text = data.draw(st.text(alphabet=sorted(set("".join(docs))), max_size=20), label="text")
    got = tok.decode(list(tok.encode(text)))
    expect(got == text, "tokenizer: decode(encode(text)) is not text.",
           call=f"tok.decode(tok.encode({text!r}))", inputs={"docs": docs}, got=got, expected=text,
           rule="decoding the ids of a text gives the text back, character for character",
           repro=_repro(docs, f"print(repr(tok.decode(tok.encode({text!r}))))"))


@given(docs=documents(ALPHABET))
@settings(max_examples=examples(30))
def test_decode_leaves_bos_out(backend, docs):
    tok = backend.build_tokenizer(docs)
    doc = docs[0]
    got = tok.decode(list(tok.sequence(doc)))
    expect(got == doc, "tokenizer: decode printed something for BOS.",
           call=f"tok.decode(tok.sequence({doc!r}))", inputs={"docs": docs}, got=got, expected=doc,
           rule="BOS marks where a name starts and ends; it is not a character, so it decodes to nothing",
           repro=_repro(docs, f"print(repr(tok.decode(tok.sequence({doc!r}))))"))


@given(docs=documents(ALPHABET))
@settings(max_examples=examples(50))
def test_training_sequence_is_wrapped_in_bos(backend, docs):
    tok = backend.build_tokenizer(docs)
    chars = sorted(set("".join(docs)))
    bos = len(chars)
    doc = docs[-1]
    got = list(tok.sequence(doc))
    expected = [bos] + [chars.index(c) for c in doc] + [bos]
    expect(got == expected, "tokenizer: the training sequence of a document is wrong.",
           call=f"tok.sequence({doc!r})", inputs={"docs": docs}, got=got, expected=expected,
           rule="a document trains as [BOS] + its ids + [BOS]: the model learns to start a name "
                "after BOS and to end it by predicting BOS",
           repro=_repro(docs, f"print(tok.sequence({doc!r}))"))


@given(docs=documents("abcxyz"), stranger=st.sampled_from("QW7!é"))
@settings(max_examples=examples(20))
def test_unknown_character_is_a_clear_error(backend, docs, stranger):
    tok = backend.build_tokenizer(docs)
    text = docs[0] + stranger
    rule = ("a character outside the vocabulary cannot be encoded; the error (ValueError or "
            "KeyError) must name the character so the user can find it in the data")
    error = expect_raises((ValueError, KeyError), lambda: tok.encode(text), area="tokenizer",
                          call=f"tok.encode({text!r})", inputs={"docs": docs}, rule=rule,
                          repro=_repro(docs, f"tok.encode({text!r})"))
    expect(stranger in str(error), "tokenizer: the error does not name the unknown character.",
           call=f"tok.encode({text!r})", inputs={"docs": docs}, got=f"{type(error).__name__}: {error}",
           expected=f"a message containing {stranger!r}", rule=rule,
           repro=_repro(docs, f"tok.encode({text!r})"))


def test_names_data_has_27_tokens(backend):
    docs = load_docs()
    tok = backend.build_tokenizer(docs)
    got = {"chars": "".join(tok.chars), "bos": int(tok.bos), "vocab_size": int(tok.vocab_size)}
    expected = {"chars": "abcdefghijklmnopqrstuvwxyz", "bos": 26, "vocab_size": 27}
    expect(got == expected, "tokenizer: the names data set should give a..z, BOS 26, 27 tokens.",
           call="backend.build_tokenizer(load_docs())", got=got, expected=expected,
           rule="the names are lowercase a..z, so ids 0..25 are letters, 26 is BOS, 27 tokens in all",
           repro="from microgpt_spec.data import load_docs\n"
                 "tok = backend.build_tokenizer(load_docs())\nprint(tok.chars, tok.bos, tok.vocab_size)")


# Python keeps one object per small int (up to 256): a check written `i is not bos` instead of
# `i != bos` works for every vocabulary below that size and breaks beyond it.
BIG_ALPHABET = "".join(chr(0x4E00 + k) for k in range(300))  # 300 distinct CJK characters


def test_a_vocabulary_of_300_characters(backend):
    docs = [BIG_ALPHABET[:150], BIG_ALPHABET[150:]]
    tok = backend.build_tokenizer(docs)
    n = len(sorted(set("".join(docs))))  # 300, an int object of the spec's own, not the backend's
    text = BIG_ALPHABET[::7]
    ids = [int(str(i)) for i in [n] + [BIG_ALPHABET.index(c) for c in text] + [n]]  # fresh int objects
    got = {"bos": int(tok.bos), "encode": list(tok.encode(text)), "decode": tok.decode(ids)}
    expected = {"bos": n, "encode": ids[1:-1], "decode": text}
    expect(got == expected, "tokenizer: a vocabulary of 300 characters is handled wrongly.",
           call=f"tok = backend.build_tokenizer(docs); tok.bos, tok.encode(text), tok.decode({ids[:3]}...)",
           inputs={"docs": "two documents holding 300 distinct characters", "text": text},
           got={k: v if k != "encode" else v[:8] for k, v in got.items()},
           expected={k: v if k != "encode" else v[:8] for k, v in expected.items()},
           rule="the rules do not depend on the vocabulary's size: bos = len(chars) = 300, and decode "
                "leaves out every id EQUAL to bos. Comparing ids with `is` instead of `==` works only "
                "below 257, where Python reuses one object per int",
           repro=f"docs = [{BIG_ALPHABET[:150]!r}, {BIG_ALPHABET[150:]!r}]\n"
                 f"tok = backend.build_tokenizer(docs)\ntext = docs[0][::7] + docs[1][3::7]\n"
                 "print(tok.bos, tok.decode([int('300')] + tok.encode(text) + [int('300')]) == text)")


def test_unknown_character_is_a_clear_error_with_a_large_vocabulary(backend):
    docs = [BIG_ALPHABET[:60]]  # more characters than an error message may want to list in full
    tok = backend.build_tokenizer(docs)
    stranger = "Q"
    rule = ("a character outside the vocabulary is a ValueError or KeyError naming the character, whatever the "
            "vocabulary's size (a message that shortens a long vocabulary must still be built without error)")
    error = expect_raises((ValueError, KeyError), lambda: tok.encode(stranger), area="tokenizer",
                          call=f"tok.encode({stranger!r})", inputs={"docs": "one document of 60 distinct characters"},
                          rule=rule, repro=_repro(docs, f"tok.encode({stranger!r})"))
    expect(stranger in str(error), "tokenizer: the error does not name the unknown character.",
           call=f"tok.encode({stranger!r})", got=f"{type(error).__name__}: {error}",
           expected=f"a message containing {stranger!r}", rule=rule, repro=_repro(docs, f"tok.encode({stranger!r})"))
