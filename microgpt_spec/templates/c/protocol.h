/* protocol.h: the wire protocol between the host (the spec, in Python) and this program.
 *
 * docs/protocol.md describes it in full. In short: every message is a 4-byte
 * little-endian length and that many bytes of UTF-8 JSON. The host sends batches
 * {"a": [asynchronous requests], "s": one synchronous request or null}; we answer each
 * synchronous request with one reply {"r": result} or {"e": error}. Objects that are not
 * plain data (a Value node, a tokenizer, an optimizer) stay here, and the host holds
 * them by *handle*, a number; this layer keeps the table of handles.
 *
 * This layer knows nothing of microgpt. The microgpt parts describe their objects with a
 * `Class` (what `obj.name`, `obj.method(...)`, `a + b` ... do) and the backend itself is
 * the object under handle 0, of the class `BACKEND_CLASS` that backend.c defines.
 */
#ifndef MICROGPT_PROTOCOL_H
#define MICROGPT_PROTOCOL_H

#include "json.h"

/* ------------------------------------------------------------------ errors */
/* An error travels as {"type": the Python exception it stands for, "message": text}:
 * "NotImplementedError" means *not implemented*, "ValueError" a refused input, ... */
typedef struct {
    int set;
    char type[48];
    char message[2048];
} Error;

/* Fill `error` (printf-style message); returns 0, so `return set_error(...)` fails a call. */
int set_error(Error *error, const char *type, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* For a part not written yet (the scaffold's stubs), also where it has no `Error *` to
 * fill: the request under way then fails with NotImplementedError(what), e.g.
 * not_implemented("layers: softmax(logits)"). */
void not_implemented(const char *what);

/* ------------------------------------------------------------------ arguments */
/* A call's arguments as they came: positional ones, and keyword ones as [[name, value]]. */
typedef struct {
    const Json *positional;
    const Json *keywords;
} Args;

/* The arguments bound to the parameter names `names` (NULL-terminated), in that order,
 * into `out`; the first `required` must be given, the others are NULL when absent.
 * A TypeError, as Python would raise it, for too many / missing / unknown arguments. */
int bind_args(const Args *args, const char *function, const char *const *names, int required, const Json **out,
              Error *error);

/* ------------------------------------------------------------------ classes of objects */
typedef struct Class Class;
struct Class {
    const char *name;
    const char *const *methods;  /* NULL-terminated: what the host may call on it */
    /* obj.name: a new Json, or NULL with `error` set (AttributeError ...). */
    Json *(*get)(void *self, const char *name, Error *error);
    /* obj.name = value: 1, or 0 with `error` set. */
    int (*set)(void *self, const char *name, const Json *value, Error *error);
    /* obj.method(*args, **kwargs): a new Json (JSON_NULL for None), or NULL with `error`. */
    Json *(*call)(void *self, const char *method, const Args *args, Error *error);
    /* left OP right (add sub mul truediv pow), one side being an object of this class. */
    Json *(*binary)(const char *op, const Json *left, const Json *right, Error *error);
    /* OP obj (neg pos abs). */
    Json *(*unary)(const char *op, void *self, Error *error);
    /* float(obj): 1, or 0 with `error` set. */
    int (*to_float)(void *self, double *out, Error *error);
    /* repr(obj), into `out` (at most `size` bytes). */
    void (*repr)(void *self, char *out, size_t size);
    /* Reference counting: the handle table holds one reference per handle. */
    void (*retain)(void *self);
    void (*release)(void *self);
};

/* A Json that stands for one of our objects; written as a handle {"h": id, "c": class}. */
Json *json_ref(const Class *cls, void *self);

/* The backend object, handle 0 (backend.c). */
extern const Class BACKEND_CLASS;
extern const char *const BACKEND_NAME, *const BACKEND_VERSION;
extern const char *const BACKEND_METHODS[]; /* the contract methods offered, NULL-terminated */

/* ------------------------------------------------------------------ talking to the host mid-call */
/* `n` numbers from the host's random generator `rng` (a JSON_RNG argument):
 * dist "random" (rng.random()) or "gauss" (rng.gauss(mu, sigma)). 1, or 0 with `error`. */
int protocol_draw(const Json *rng, const char *dist, size_t n, double mu, double sigma, double *out,
                  Error *error);
/* Call the host's callable `callback` (a JSON_CALLBACK argument) with `args` (a Json
 * array, consumed). 1, or 0 with `error` (a RuntimeError). */
int protocol_callback(const Json *callback, Json *args, Error *error);
/* Add a field to the reply of the current request (gpt's "kv"); `value` is consumed. */
void protocol_reply_field(const char *name, Json *value);

/* Run the protocol on stdin/stdout until stdin closes; returns the exit status. */
int protocol_serve(void);

#endif
