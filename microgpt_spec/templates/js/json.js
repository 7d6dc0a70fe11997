'use strict';
// JSON as Python writes and reads it.
//
// Two differences from JavaScript's own JSON matter on this wire:
//   * Python writes the floats nan and inf as the bare words NaN, Infinity and -Infinity,
//     which JSON.parse rejects; JSON.stringify turns them into null.
//   * Python tells 2 (an int) from 2.0 (a float); JavaScript has one kind of number. Every
//     number is written in the shortest form that reads back to the same double (what
//     String(x) gives), so no bit is lost; integral numbers are written without ".0" and
//     Python reads them as ints, which the spec accepts wherever it reads a float.
//     -0.0 is the one integral number that needs ".0", or its sign would be lost.

// ------------------------------------------------------------------ reading
// The bare words are rare, so a message without them goes straight to JSON.parse. One
// with them is rewritten first: each word outside a string becomes a string holding a
// marker character that no JSON text produced by Python contains raw (\u0000 is always
// escaped inside Python's strings), and a reviver turns those strings into numbers.
const MARK = '\u0000';
const SPECIAL = { [MARK + 'NaN']: NaN, [MARK + 'Infinity']: Infinity, [MARK + '-Infinity']: -Infinity };

function parse(text) {
  if (!text.includes('NaN') && !text.includes('Infinity')) return JSON.parse(text);
  return JSON.parse(quoteBareWords(text), (key, value) =>
    (typeof value === 'string' && value in SPECIAL ? SPECIAL[value] : value));
}

/** `text` with NaN, Infinity and -Infinity outside strings turned into marked strings. */
function quoteBareWords(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') { // copy a whole string, escapes included
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const word = ['-Infinity', 'Infinity', 'NaN'].find((w) => text.startsWith(w, i));
    if (word) {
      out += JSON.stringify(MARK + word);
      i += word.length;
      continue;
    }
    out += ch;
    i += 1;
  }
  return out;
}

// ------------------------------------------------------------------ writing
/** A number as Python's JSON reads it back exactly. */
function number(x) {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0 && 1 / x < 0) return '-0.0';
  return String(x); // the shortest digits that read back to x: "0.1", "1e-7", "1e+21"
}

/** `value` (plain data only: numbers, strings, booleans, null, arrays, plain objects) as JSON. */
function stringify(value) {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'number': return number(value);
    case 'string': return JSON.stringify(value);
    case 'boolean': return value ? 'true' : 'false';
    default: break;
  }
  if (Array.isArray(value)) return '[' + value.map(stringify).join(',') + ']';
  const fields = Object.keys(value).map((k) => JSON.stringify(k) + ':' + stringify(value[k]));
  return '{' + fields.join(',') + '}';
}

module.exports = { parse, stringify, number };
