'use strict';
// The character tokenizer: each distinct character is a token, plus BOS.
const { pyError } = require('./protocol');

/** Python's repr of a one-character string, for messages: 'é', '\n'. */
function charRepr(ch) {
  const inner = JSON.stringify(ch).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
  return `'${inner}'`;
}

class CharTokenizer {
  /** ids 0..chars.length-1 are the sorted distinct characters of `docs` (by code point, as
   *  Python sorts strings); `bos = chars.length` marks both the start and the end of a document. */
  constructor(docs) {
    const distinct = new Set();
    for (const doc of docs) for (const ch of doc) distinct.add(ch); // for..of: whole code points
    this.chars = [...distinct].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
    this.bos = this.chars.length;
    this.vocab_size = this.chars.length + 1;
    Object.defineProperty(this, 'ids', { value: new Map(this.chars.map((ch, i) => [ch, i])) });
  }

  /** The id of each character of `text`; ValueError names an unknown character. */
  encode(text) {
    const ids = [];
    for (const ch of text) {
      const id = this.ids.get(ch);
      if (id === undefined) {
        throw pyError('ValueError', `character ${charRepr(ch)} is not in the vocabulary (${this.preview()})`);
      }
      ids.push(id);
    }
    return ids;
  }

  /** The characters of `ids`, joined; BOS is not a character and is left out. */
  decode(ids) {
    for (const i of ids) {
      if (!(Number.isInteger(i) && i >= 0 && i <= this.bos)) {
        throw pyError('ValueError', `token id ${i} is outside 0..${this.bos} (BOS is ${this.bos})`);
      }
    }
    return ids.filter((i) => i !== this.bos).map((i) => this.chars[i]).join('');
  }

  /** What one document trains on: [BOS] + its characters + [BOS]. */
  sequence(doc) {
    return [this.bos, ...this.encode(doc), this.bos];
  }

  preview(limit = 40) {
    const text = this.chars.join('');
    const shown = text.length <= limit ? text : text.slice(0, limit) + '...';
    return `${this.chars.length} characters: ${JSON.stringify(shown)}`;
  }

  repr() { return `CharTokenizer(${this.preview()})`; }
}
CharTokenizer.pythonMethods = ['decode', 'encode', 'sequence'];

module.exports = { CharTokenizer };
