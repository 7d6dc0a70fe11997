'use strict';
// Python's arithmetic where it differs from JavaScript's.
//
// In JavaScript, log(0) is -Infinity, exp(1000) is Infinity and 0 ** -1 is Infinity. In
// Python they raise (ValueError, OverflowError, ZeroDivisionError), and the spec holds
// every backend to what the original program does, so the engine computes through these.
const { pyError } = require('./protocol');

/** math.log(a): ValueError "math domain error" for a <= 0. */
function log(a) {
  if (a <= 0 || a === -Infinity) throw pyError('ValueError', 'math domain error');
  return Math.log(a);
}

/** math.exp(a): OverflowError "math range error" when a finite a overflows. */
function exp(a) {
  const e = Math.exp(a);
  if (e === Infinity && Number.isFinite(a)) throw pyError('OverflowError', 'math range error');
  return e;
}

/** a ** k, as Python computes it for floats. */
function pow(a, k) {
  if (a === 0 && k < 0) throw pyError('ZeroDivisionError', '0.0 cannot be raised to a negative power');
  if (k === 0 || a === 1) return 1; // Python: x ** 0 == 1 and 1 ** y == 1, even for nan
  if (a === -1 && (k === Infinity || k === -Infinity)) return 1;
  if (a < 0 && Number.isFinite(a) && Number.isFinite(k) && !Number.isInteger(k)) {
    // Python would give a complex number, which no part of microgpt can use.
    throw pyError('ValueError', `a negative number (${a}) cannot be raised to a fractional power (${k})`);
  }
  const r = Math.pow(a, k);
  if (!Number.isFinite(r) && !Number.isNaN(r) && Number.isFinite(a) && Number.isFinite(k)) {
    throw pyError('OverflowError', '(34, \'Numerical result out of range\')');
  }
  return r;
}

/** a / b: ZeroDivisionError for b == 0, as Python. */
function div(a, b) {
  if (b === 0) throw pyError('ZeroDivisionError', 'float division by zero');
  return a / b;
}

module.exports = { log, exp, pow, div };
