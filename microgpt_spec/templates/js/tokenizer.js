'use strict';
// The character tokenizer: each distinct character is a token, plus BOS.
const { notImplemented } = require('./protocol');

class CharTokenizer {
  /** this.chars: the sorted distinct characters of all the docs (sort by code point, as
   *  Python does); this.bos = chars.length; this.vocab_size = chars.length + 1.
   *  Example: ["emma", "ava"] gives chars ['a', 'e', 'm', 'v'], bos 4, vocab_size 5. */
  constructor(docs) {
    throw notImplemented('tokenizer: build_tokenizer(docs): chars = sorted distinct characters, '
      + 'bos = chars.length, vocab_size = chars.length + 1');
  }

  /** The id of each character of `text`. An unknown character throws
   *  pyError('ValueError', ...) with a message that names it. */
  encode(text) { throw notImplemented('tokenizer: CharTokenizer.encode: the index in chars of each character'); }

  /** The characters of `ids`, joined; BOS is not a character: leave it out. */
  decode(ids) { throw notImplemented('tokenizer: CharTokenizer.decode: join chars[i], leaving BOS out'); }

  /** What one document trains on: [bos] + encode(doc) + [bos]. */
  sequence(doc) { throw notImplemented('tokenizer: CharTokenizer.sequence: [bos] + encode(doc) + [bos]'); }
}
// What the host may call on a tokenizer; it reads chars, bos and vocab_size as fields.
CharTokenizer.pythonMethods = ['decode', 'encode', 'sequence'];

module.exports = { CharTokenizer };
