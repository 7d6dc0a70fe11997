/* json.h: a small JSON reader and writer, just what the wire protocol needs.
 *
 * Values are trees of `Json` nodes. Numbers keep whether they were written as an
 * integer (ids, steps, token ids) and their double value. Floats are written so that
 * they read back exactly, and NaN / Infinity / -Infinity are spelled as Python's json
 * module spells them, because the host on the other end is Python.
 *
 * Two kinds exist only inside this program: JSON_OBJECTREF (one of our own objects, a
 * Value or a tokenizer, that the protocol layer turns into a handle when it is written)
 * and the tags the protocol resolves after reading (a random generator, a callback).
 */
#ifndef MICROGPT_JSON_H
#define MICROGPT_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT,
    JSON_OBJECTREF, /* one of the program's own objects (see protocol.h) */
    JSON_RNG,       /* a random.Random of the host's: its key (`number`) */
    JSON_CALLBACK   /* a callable of the host's: its id (`number`) */
} JsonKind;

typedef struct Json Json;
struct Json {
    JsonKind kind;
    int boolean;
    int is_int;      /* a number written without '.', 'e': `integer` holds it exactly */
    int64_t integer;
    double number;
    char *string;    /* UTF-8 (lone surrogates as 3-byte sequences), NUL-terminated */
    size_t length;   /* bytes of `string`, or items of an array / object */
    Json **items;    /* array items, or object values */
    char **keys;     /* object keys */
    size_t capacity;
    void *ref;            /* JSON_OBJECTREF: the object itself ... */
    const void *ref_class; /* ... and its class (a `const Class *`, see protocol.h) */
};

/* ---- building */
Json *json_null(void);
Json *json_bool(int value);
Json *json_number(double value);
Json *json_int(int64_t value);
Json *json_string(const char *text);
Json *json_string_n(const char *text, size_t length);
Json *json_array(void);
Json *json_object(void);
Json *json_append(Json *array, Json *item);               /* returns array */
Json *json_set(Json *object, const char *key, Json *value); /* returns object */
Json *json_doubles(const double *values, size_t n);         /* [v0, v1, ...] */
void json_free(Json *value);

/* ---- reading */
Json *json_get(const Json *object, const char *key);        /* NULL when absent */
int json_is_number(const Json *value);
/* Parse `n` bytes; NULL on a syntax error, with a description in `error`. */
Json *json_parse(const char *text, size_t n, char *error, size_t error_size);

/* ---- writing */
typedef struct {
    char *data;
    size_t length, capacity;
} Buffer;
void buffer_add(Buffer *b, const char *bytes, size_t n);
void buffer_str(Buffer *b, const char *text);
void buffer_double(Buffer *b, double x);  /* as Python's json writes it */
void buffer_json_string(Buffer *b, const char *text, size_t n);
/* Writes `value`; JSON_OBJECTREF nodes go through `write_ref` (the protocol's handles). */
void json_write(Buffer *b, const Json *value, void (*write_ref)(Buffer *, const Json *));

/* Python's repr() of a float: the shortest digits that read back exactly ("0.1", "1e-05",
 * "nan", "inf"). */
void python_repr_double(double x, char *out, size_t size);

/* Decode one UTF-8 (or WTF-8) code point at `s`; returns its byte count (1 on bad bytes). */
int utf8_decode(const unsigned char *s, size_t n, uint32_t *code_point);
/* Encode a code point; returns its byte count (up to 4). */
int utf8_encode(uint32_t code_point, char *out);

#endif
