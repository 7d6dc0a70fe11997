'use strict';
// The wire protocol (docs/protocol.md), worker side: everything between the spec and the
// microgpt code in the other files. Nothing here knows about microgpt.
//
//   framing      a 4-byte little-endian length, then that many bytes of UTF-8 JSON, on
//                stdin (requests) and stdout (replies); stderr is for people
//   values       plain JSON values are themselves; a JSON object is always a tag:
//                {"t": tuple}, {"d": dict}, {"h": handle}, {"dc": dataclass}, {"rng": ...},
//                {"cb": callback}, {"range": ...}
//   handles      objects that stay here (nodes, tokenizers, optimizers) travel as ids
//   errors       {"type": "ValueError", "message": ...}: the Python exception they stand for
//
// Reading is synchronous (fs.readSync on fd 0) because a call may need the host in its
// middle: a random draw, or train's on_step callback, waits for the host's answer and then
// carries on, with no event loop to return to.

const fs = require('fs');
const path = require('path');
const json = require('./json');

const WORKER_IDS_START = 2 ** 40; // ids of objects we return ourselves; the host's start at 1
const BACKEND_HANDLE = 0;
const MESSAGE_LIMIT = 2000; // characters of an error message or a repr
const PREFETCH_WINDOW = 512; // how many following handles a read of .data reads ahead
const MAX_INCOMING_BYTES = 256 * 1024 * 1024;
const GPT_CACHE_POSITIONS = { keys: 4, values: 5 };
const TRACE_FRAMES = 6;
const HERE = __dirname;

// =================================================================== errors
/** An error that stands for a Python exception: `type` is its name (ValueError, ...). */
class PyError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

const pyError = (type, message) => new PyError(type, message);
/** What every part not written yet throws: the spec shows the area as *not implemented*. */
const notImplemented = (what) => new PyError('NotImplementedError', what);

/** The host sent something that is not this protocol: we cannot go on. */
class ProtocolError extends Error {}

/** A handle whose asynchronous request failed: using it fails with the same error. */
class FailedHandle extends Error {
  constructor(info) {
    super(info.message);
    this.info = info;
  }
}

/** The Python exception type a JavaScript error stands for. */
function pythonType(error) {
  if (error instanceof PyError) return error.type;
  if (error instanceof RangeError && /call stack/.test(error.message)) return 'RecursionError';
  if (error instanceof TypeError) return 'TypeError';
  if (error instanceof RangeError) return 'ValueError';
  return 'RuntimeError';
}

/** The frames of an error's stack that are in this folder, outermost first, Python style. */
function traceOf(error) {
  const lines = String(error && error.stack || '').split('\n').slice(1);
  const frames = [];
  for (const line of lines) {
    const m = /at (?:(.*?) \()?(.*?):(\d+):\d+\)?$/.exec(line.trim());
    if (!m || !m[2].startsWith(HERE + path.sep)) continue;
    frames.push(`  File "${path.relative(HERE, m[2])}", line ${m[3]}, in ${m[1] || '<anonymous>'}`);
  }
  return frames.slice(0, TRACE_FRAMES).reverse().join('\n');
}

/** An error as the protocol describes it. */
function describeError(error, during) {
  if (error instanceof FailedHandle) return error.info;
  const type = pythonType(error);
  const message = String(error && error.message !== undefined ? error.message : error).slice(0, MESSAGE_LIMIT);
  return { type, qualname: type, args: [message], message, kind: 'exception', trace: traceOf(error), during };
}

// =================================================================== framing
const stdin = 0;
const stdout = 1;

/** Sleep a millisecond (a pipe set non-blocking by someone else said "try again"). */
function pause() {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
}

/** Exactly `count` bytes from stdin; null at a clean end of input (nothing read yet). */
function readExactly(count) {
  const buffer = Buffer.alloc(count);
  let filled = 0;
  while (filled < count) {
    let got;
    try {
      got = fs.readSync(stdin, buffer, filled, count - filled, null);
    } catch (error) {
      if (error.code === 'EAGAIN') { pause(); continue; }
      if (error.code === 'EOF') got = 0;
      else throw error;
    }
    if (got === 0) {
      if (filled === 0) return null;
      throw new ProtocolError(`the input ended in the middle of a message (${filled} of ${count} bytes)`);
    }
    filled += got;
  }
  return buffer;
}

const END = Symbol('end of input');

/** The next message from the host, parsed; END when the host closed our input. */
function readMessage() {
  const header = readExactly(4);
  if (header === null) return END;
  const size = header.readUInt32LE(0);
  if (size > MAX_INCOMING_BYTES) throw new ProtocolError(`a message of ${size} bytes announced: not this protocol`);
  const payload = size === 0 ? Buffer.alloc(0) : readExactly(size);
  if (payload === null) throw new ProtocolError('the input ended after a message header');
  try {
    return json.parse(payload.toString('utf8'));
  } catch (error) {
    throw new ProtocolError(`a message that is not JSON (${error.message})`);
  }
}

/** Send one message (an object of plain JSON values) to the host. */
function writeMessage(document) {
  const payload = Buffer.from(json.stringify(document), 'utf8');
  const message = Buffer.alloc(4 + payload.length);
  message.writeUInt32LE(payload.length, 0);
  payload.copy(message, 4);
  let written = 0;
  while (written < message.length) {
    try {
      written += fs.writeSync(stdout, message, written, message.length - written);
    } catch (error) {
      if (error.code === 'EAGAIN') { pause(); continue; }
      throw error;
    }
  }
}

// =================================================================== values
const TUPLE = Symbol('tuple');

/** A Python tuple: an array that the host receives as a tuple. */
function tuple(...items) {
  items[TUPLE] = true;
  return items;
}

/** One of the contract's dataclasses (Config, Schedule, TrainResult, ...): named fields. */
class DataClass {
  constructor(name, fields) {
    Object.defineProperty(this, 'dataclassName', { value: name });
    Object.assign(this, fields);
  }
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A random.Random of the host's: every number comes from the host (a `draw` message). */
class Rng {
  constructor(server, key) {
    this.server = server;
    this.key = key;
  }

  /** `n` numbers of rng.random(), uniform in [0, 1). */
  randoms(n) { return this.server.draw({ k: this.key, dist: 'random', n }); }

  /** One rng.random(). */
  random() { return this.randoms(1)[0]; }

  /** `n` numbers of rng.gauss(mu, sigma), in order. */
  gauss(mu, sigma, n) { return this.server.draw({ k: this.key, dist: 'gauss', n, mu, sigma }); }
}

// =================================================================== the server
/**
 * Serves the host's requests on `backend` (handle 0). A class whose objects cross the wire
 * as handles lists the methods the host may call in `static pythonMethods`, and may give
 * `pythonName`, `toFloat()` (float(x)) and `repr()`. A method taking keyword arguments
 * lists its parameter names in `static parameters = {method: [names]}`.
 */
class Server {
  constructor(backend) {
    this.objects = new Map([[BACKEND_HANDLE, backend]]);
    this.idOf = new Map([[backend, BACKEND_HANDLE]]);
    this.failed = new Map(); // handle -> error of the async request that should have made it
    this.nextId = WORKER_IDS_START;
    this.classIds = new Map(); // constructor -> class id
    this.newClasses = {}; // descriptions not sent yet
    this.newAsync = []; // handles made by async requests since the last reply
    this.deferred = null; // the first error of an async request, for the next reply
  }

  // ---------------------------------------------------------------- handles and classes
  handleOf(object) {
    let hid = this.idOf.get(object);
    if (hid === undefined) {
      hid = this.nextId++;
      this.objects.set(hid, object);
      this.idOf.set(object, hid);
    }
    return { h: hid, c: this.classId(object) };
  }

  objectOf(hid) {
    if (this.failed.has(hid)) throw new FailedHandle(this.failed.get(hid));
    if (!this.objects.has(hid)) throw new ProtocolError(`no object under handle ${JSON.stringify(hid)}`);
    return this.objects.get(hid);
  }

  store(hid, object) {
    this.objects.set(hid, object);
    if (!this.idOf.has(object)) this.idOf.set(object, hid);
    this.newAsync.push(hid);
  }

  release(hids) {
    for (const hid of hids) {
      this.failed.delete(hid);
      if (!this.objects.has(hid)) continue;
      const object = this.objects.get(hid);
      this.objects.delete(hid);
      if (this.idOf.get(object) === hid) this.idOf.delete(object);
    }
  }

  classId(object) {
    const cls = object.constructor;
    let cid = this.classIds.get(cls);
    if (cid === undefined) {
      cid = this.classIds.size + 1;
      this.classIds.set(cls, cid);
      this.newClasses[String(cid)] = { name: className(object), methods: methodsOf(object), seq: false, call: false };
    }
    return cid;
  }

  // ---------------------------------------------------------------- values
  encode(value) {
    if (value === null || value === undefined) return null;
    const kind = typeof value;
    if (kind === 'number' || kind === 'string' || kind === 'boolean') return value;
    if (Array.isArray(value)) {
      const items = value.map((item) => this.encode(item));
      return value[TUPLE] ? { t: items } : items;
    }
    if (ArrayBuffer.isView(value)) return Array.from(value);
    if (value instanceof DataClass) {
      const fields = {};
      for (const [name, field] of Object.entries(value)) fields[name] = this.encode(field);
      return { dc: value.dataclassName, f: fields };
    }
    if (isPlainObject(value)) return { d: Object.entries(value).map(([k, v]) => [k, this.encode(v)]) };
    return this.handleOf(value);
  }

  decode(data) {
    if (Array.isArray(data)) return data.map((item) => this.decode(item));
    if (data === null || typeof data !== 'object') return data;
    if ('t' in data) return tuple(...data.t.map((item) => this.decode(item)));
    if ('d' in data) {
      const dict = {};
      for (const [key, value] of data.d) dict[key] = this.decode(value);
      return dict;
    }
    if ('h' in data) return this.objectOf(data.h);
    if ('dc' in data) {
      const fields = {};
      for (const [name, value] of Object.entries(data.f || {})) fields[name] = this.decode(value);
      return new DataClass(data.dc, fields);
    }
    if ('rng' in data) return new Rng(this, data.rng.k);
    if ('cb' in data) return (...args) => this.callBack(data.cb, args);
    if ('range' in data) {
      const [start, stop, step] = data.range;
      const items = [];
      for (let i = start; step > 0 ? i < stop : i > stop; i += step) items.push(i);
      return items;
    }
    throw new ProtocolError(`unknown tag in ${JSON.stringify(data).slice(0, 80)}`);
  }

  /** An operator's operand: a number or a handle, mostly. */
  operand(data) {
    if (typeof data === 'number') return data;
    return this.decode(data);
  }

  // ---------------------------------------------------------------- asking the host mid-call
  /** Numbers drawn by the host from one of its generators (`draw` message, docs/protocol.md). */
  draw(request) {
    writeMessage({ draw: request });
    const answer = this.answer();
    if (!Array.isArray(answer.r) || answer.r.length !== request.n) {
      throw new ProtocolError('the host answered a draw with something else than the numbers');
    }
    return answer.r;
  }

  /** Call a function of the host's (train's on_step) and wait for its answer. */
  callBack(ident, args) {
    writeMessage({ cb: ident, args: args.map((a) => this.encode(a)), kwargs: [] });
    const answer = this.answer();
    if ('e' in answer) throw pyError('RuntimeError', `the grader's callback failed: ${answer.e}`);
    return this.decode(answer.r);
  }

  answer() {
    const answer = readMessage();
    if (answer === END) throw new ProtocolError('the host closed the input while we waited for its answer');
    if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw new ProtocolError('an answer is an object');
    return answer;
  }

  // ---------------------------------------------------------------- the loop
  serve() {
    for (;;) {
      const batch = readMessage();
      if (batch === END) return; // the host closed our input: we are done
      if (batch === null || typeof batch !== 'object' || Array.isArray(batch)) {
        throw new ProtocolError('a batch is an object {"a": [...], "s": ...}');
      }
      for (const request of batch.a || []) this.runAsync(request);
      if (batch.s !== null && batch.s !== undefined) this.reply(this.runSync(batch.s));
    }
  }

  reply(document) {
    if (this.newAsync.length) { // the class of each object the async requests made
      document.hc = this.newAsync.filter((hid) => this.objects.has(hid))
        .map((hid) => [hid, this.classId(this.objects.get(hid))]);
      this.newAsync = [];
    }
    document.cls = this.newClasses; // classes the host has not seen described yet
    this.newClasses = {};
    writeMessage(document);
  }

  // ---------------------------------------------------------------- asynchronous requests
  // No reply: the host named the result's handle already. A failure is kept: it answers
  // the next synchronous request, and the failed handle fails again when used.
  runAsync(request) {
    if (!Array.isArray(request)) throw new ProtocolError('a request is a list');
    const [kind, ...fields] = request;
    if (kind === 'rel') { this.release(fields[0]); return; }
    if (!(kind in ASYNC)) throw new ProtocolError(`unknown asynchronous request ${JSON.stringify(kind)}`);
    const rid = kind === 'set' ? null : fields[0];
    let result;
    try {
      result = ASYNC[kind].call(this, ...fields);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      const info = describeError(error, describe(request));
      if (rid !== null) this.failed.set(rid, info);
      if (this.deferred === null) this.deferred = info;
      return;
    }
    if (rid !== null) this.store(rid, result);
  }

  // ---------------------------------------------------------------- synchronous requests
  runSync(request) {
    if (this.deferred !== null) {
      const error = this.deferred;
      this.deferred = null;
      return { e: error };
    }
    if (!Array.isArray(request)) throw new ProtocolError('a request is a list');
    const [kind, ...fields] = request;
    if (!(kind in SYNC)) throw new ProtocolError(`unknown request ${JSON.stringify(kind)}`);
    const extras = {};
    let document;
    try {
      document = { r: this.encode(SYNC[kind].call(this, extras, ...fields)) };
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      document = { e: describeError(error, describe(request)) };
    }
    return Object.assign(document, extras);
  }

  /** target.method(*args, **kwargs), the arguments bound to the method's parameters. */
  call(extras, target, method, args, kwargs) {
    const object = this.objectOf(target);
    if (!methodsOf(object).includes(method)) {
      throw pyError('AttributeError', `'${className(object)}' object has no attribute '${method}'`);
    }
    const values = args.map((a) => this.decode(a));
    if (kwargs.length) {
      const names = (object.constructor.parameters || {})[method] || [];
      for (const [name, value] of kwargs) {
        const position = names.indexOf(name);
        if (position < 0) throw pyError('TypeError', `${method}() got an unexpected keyword argument '${name}'`);
        if (position < values.length && values[position] !== undefined) {
          throw pyError('TypeError', `${method}() got multiple values for argument '${name}'`);
        }
        values[position] = this.decode(value);
      }
    }
    // gpt appends to its key/value cache: the one change to an argument the host takes over.
    const caches = target === BACKEND_HANDLE && method === 'gpt' ? cachesOf(values) : null;
    const sizes = caches && mapCaches(caches, (layer) => layer.length);
    const result = object[method](...values);
    if (caches) {
      extras.kv = {};
      for (const name of Object.keys(caches)) {
        extras.kv[name] = caches[name].map((layer, i) =>
          (Array.isArray(layer) ? this.encode(layer.slice(sizes[name][i])) : []));
      }
    }
    return result;
  }

  /** target.name: a method (the host then calls it by name), or a plain value. */
  get(extras, target, name) {
    const object = this.objectOf(target);
    if (methodsOf(object).includes(name)) {
      extras.meth = true;
      return null;
    }
    const value = attribute(object, name);
    if (typeof value === 'number') extras.pf = this.readAhead(target, object, name);
    return value;
  }

  /** The same number attribute of the next handles of the same class: the spec reads
   *  `float(n.data)` of many nodes in a row, and this saves a round trip each. */
  readAhead(hid, object, name) {
    const found = [];
    if (typeof hid !== 'number') return found;
    for (let other = hid + 1; other <= hid + PREFETCH_WINDOW; other += 1) {
      const next = this.objects.get(other);
      if (next === undefined || next.constructor !== object.constructor || this.failed.has(other)) continue;
      if (typeof next[name] === 'number') found.push([other, next[name]]);
    }
    return found;
  }
}

/** The requests without a reply. `this` is the server. */
const ASYNC = {
  op(result, operator, left, right) {
    return binary(operator, this.operand(left), this.operand(right));
  },
  un(result, operator, operand) {
    const value = this.operand(operand);
    if (operator === 'neg' && value && typeof value.neg === 'function') return value.neg();
    throw pyError('TypeError', `bad operand type for unary ${UNARY_SYMBOLS[operator] || operator}: '${typeName(value)}'`);
  },
  acall(result, target, method, args) {
    return this.call({}, target, method, args, []);
  },
  set(target, name, value) {
    const object = this.objectOf(target);
    attribute(object, name); // it must exist: objects here have fixed fields, like __slots__
    object[name] = this.decode(value);
  },
};

/** The requests with a reply. `this` is the server; `extras` collects reply fields. */
const SYNC = {
  call(extras, target, method, args, kwargs) { return this.call(extras, target, method, args, kwargs); },
  get(extras, target, name) { return this.get(extras, target, name); },
  flush() { return null; },
  float(extras, target) {
    const object = this.objectOf(target);
    if (typeof object.toFloat !== 'function') {
      throw pyError('TypeError', `float() argument must be a string or a real number, not '${className(object)}'`);
    }
    return object.toFloat();
  },
  repr(extras, target) { return reprOf(this.objectOf(target)).slice(0, MESSAGE_LIMIT); },
  str(extras, target) { return reprOf(this.objectOf(target)).slice(0, MESSAGE_LIMIT); },
};
// The protocol's other requests: this program's objects do not support them.
for (const kind of ['callobj', 'cmp', 'int', 'index', 'bool', 'len', 'list', 'getitem', 'setitem', 'contains']) {
  SYNC[kind] = () => { throw pyError('TypeError', `this backend's objects do not support ${kind}`); };
}

const BINARY_METHODS = { add: ['add', 'radd'], sub: ['sub', 'rsub'], mul: ['mul', 'rmul'],
                         truediv: ['div', 'rdiv'], pow: ['pow', null] };
const BINARY_SYMBOLS = { add: '+', sub: '-', mul: '*', truediv: '/', pow: '** or pow()' };
const UNARY_SYMBOLS = { neg: '-', pos: '+', abs: 'abs()' };

/** left OPERATOR right, as Python dispatches it: left's method, else right's reflected one. */
function binary(operator, left, right) {
  const [forward, reflected] = BINARY_METHODS[operator] || [];
  if (forward && left !== null && typeof left === 'object' && typeof left[forward] === 'function') {
    return left[forward](right);
  }
  if (reflected && right !== null && typeof right === 'object' && typeof right[reflected] === 'function') {
    return right[reflected](left);
  }
  throw pyError('TypeError', `unsupported operand type(s) for ${BINARY_SYMBOLS[operator] || operator}: `
    + `'${typeName(left)}' and '${typeName(right)}'`);
}

// =================================================================== helpers
function className(object) {
  return object.constructor.pythonName || object.constructor.name;
}

function typeName(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (value === null || value === undefined) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? className(value) : typeof value;
}

function methodsOf(object) {
  return object.constructor.pythonMethods || [];
}

/** object.name for a data attribute; AttributeError as Python says it otherwise. */
function attribute(object, name) {
  const value = typeof name === 'string' && !name.startsWith('_') ? object[name] : undefined;
  if (value === undefined || typeof value === 'function' || !Object.prototype.hasOwnProperty.call(object, name)) {
    throw pyError('AttributeError', `'${className(object)}' object has no attribute '${name}'`);
  }
  return value;
}

function reprOf(object) {
  if (typeof object.repr === 'function') return object.repr();
  return `<${className(object)} object>`;
}

/** gpt's keys and values arguments. */
function cachesOf(values) {
  const caches = {};
  for (const [name, position] of Object.entries(GPT_CACHE_POSITIONS)) {
    caches[name] = Array.isArray(values[position]) ? values[position] : [];
  }
  return caches;
}

function mapCaches(caches, f) {
  const out = {};
  for (const name of Object.keys(caches)) out[name] = caches[name].map((l) => (Array.isArray(l) ? f(l) : 0));
  return out;
}

/** How an error names the request it happened in ("backend.gpt()", "reading .grad"). */
function describe(request) {
  const [kind, a, b, c] = request;
  if (kind === 'call') return a === BACKEND_HANDLE ? `backend.${b}()` : `.${b}()`;
  if (kind === 'acall') return `${c}()`;
  if (kind === 'get') return `reading .${b}`;
  if (kind === 'set') return `setting .${b}`;
  if (kind === 'op' || kind === 'un') return `an operator (${b}) on the submission's objects`;
  return `${String(kind).slice(0, 40)}()`;
}

// =================================================================== start and run
/**
 * Say `ready` and serve until the host closes our input. A message that does not fit the
 * protocol ends the program with status 2 and the reason on stderr (the host then reports
 * it as a crash), rather than leaving both sides waiting.
 */
function run(backend, info) {
  // Standard output carries the protocol: console.log goes to stderr (the log) instead.
  console.log = console.error;
  try {
    writeMessage({ ready: info });
    new Server(backend).serve();
  } catch (error) {
    const what = error instanceof ProtocolError ? 'protocol error' : 'internal error';
    process.stderr.write(`${info.name} backend: ${what}: ${error && error.stack || error}\n`);
    process.exitCode = 2;
  }
}

module.exports = { run, PyError, pyError, notImplemented, tuple, DataClass, Rng, Server, describeError };
