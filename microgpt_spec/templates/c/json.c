/* json.c: the JSON reader and writer (see json.h). */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ building */
static Json *json_new(JsonKind kind) {
    Json *value = calloc(1, sizeof *value);
    if (!value) { fputs("microgpt-c: out of memory\n", stderr); exit(86); }
    value->kind = kind;
    return value;
}

static void *checked_realloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) { fputs("microgpt-c: out of memory\n", stderr); exit(86); }
    return q;
}

Json *json_null(void) { return json_new(JSON_NULL); }
Json *json_bool(int value) { Json *j = json_new(JSON_BOOL); j->boolean = !!value; return j; }
Json *json_number(double value) { Json *j = json_new(JSON_NUMBER); j->number = value; return j; }
Json *json_int(int64_t value) {
    Json *j = json_new(JSON_NUMBER);
    j->is_int = 1; j->integer = value; j->number = (double)value;
    return j;
}
Json *json_string_n(const char *text, size_t length) {
    Json *j = json_new(JSON_STRING);
    j->string = checked_realloc(NULL, length + 1);
    memcpy(j->string, text, length);
    j->string[length] = '\0';
    j->length = length;
    return j;
}
Json *json_string(const char *text) { return json_string_n(text, strlen(text)); }
Json *json_array(void) { return json_new(JSON_ARRAY); }
Json *json_object(void) { return json_new(JSON_OBJECT); }

static void grow(Json *container) {
    if (container->length < container->capacity) return;
    container->capacity = container->capacity ? 2 * container->capacity : 4;
    container->items = checked_realloc(container->items, container->capacity * sizeof(Json *));
    if (container->kind == JSON_OBJECT)
        container->keys = checked_realloc(container->keys, container->capacity * sizeof(char *));
}

Json *json_append(Json *array, Json *item) {
    grow(array);
    array->items[array->length++] = item;
    return array;
}

Json *json_set(Json *object, const char *key, Json *value) {
    grow(object);
    size_t n = strlen(key);
    object->keys[object->length] = checked_realloc(NULL, n + 1);
    memcpy(object->keys[object->length], key, n + 1);
    object->items[object->length++] = value;
    return object;
}

Json *json_doubles(const double *values, size_t n) {
    Json *array = json_array();
    array->items = checked_realloc(NULL, (n ? n : 1) * sizeof(Json *));
    array->capacity = n ? n : 1;
    for (size_t i = 0; i < n; i++) array->items[i] = json_number(values[i]);
    array->length = n;
    return array;
}

void json_free(Json *value) {
    if (!value) return;
    for (size_t i = 0; i < value->length && (value->kind == JSON_ARRAY || value->kind == JSON_OBJECT); i++) {
        json_free(value->items[i]);
        if (value->kind == JSON_OBJECT) free(value->keys[i]);
    }
    free(value->items);
    free(value->keys);
    free(value->string);
    free(value);
}

Json *json_get(const Json *object, const char *key) {
    if (!object || object->kind != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < object->length; i++)
        if (strcmp(object->keys[i], key) == 0) return object->items[i];
    return NULL;
}

int json_is_number(const Json *value) { return value && value->kind == JSON_NUMBER; }

/* ------------------------------------------------------------------ UTF-8 */
int utf8_encode(uint32_t c, char *out) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int utf8_decode(const unsigned char *s, size_t n, uint32_t *c) {
    if (n >= 1 && s[0] < 0x80) { *c = s[0]; return 1; }
    if (n >= 2 && (s[0] & 0xE0) == 0xC0) { *c = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
    if (n >= 3 && (s[0] & 0xF0) == 0xE0) {
        *c = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    if (n >= 4 && (s[0] & 0xF8) == 0xF0) {
        *c = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
             (s[3] & 0x3F);
        return 4;
    }
    *c = s[0];
    return 1;
}

/* ------------------------------------------------------------------ reading */
typedef struct {
    const char *p, *end;
    char *error;
    size_t error_size;
    int depth;
} Parser;

#define MAX_DEPTH 200

static Json *parse_value(Parser *ps);

static int fail(Parser *ps, const char *what) {
    if (!ps->error[0]) snprintf(ps->error, ps->error_size, "%s", what);
    return 0;
}

static void skip_space(Parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}

static int literal(Parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) { ps->p += n; return 1; }
    return 0;
}

static int hex4(Parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) return fail(ps, "a short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = *ps->p++;
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (uint32_t)(ch - 'A' + 10);
        else return fail(ps, "a bad \\u escape");
    }
    *out = v;
    return 1;
}

static Json *parse_string(Parser *ps) {
    ps->p++; /* the opening quote */
    Buffer b = {0};
    while (ps->p < ps->end && *ps->p != '"') {
        char ch = *ps->p++;
        if (ch != '\\') { buffer_add(&b, &ch, 1); continue; }
        if (ps->p >= ps->end) break;
        char esc = *ps->p++;
        const char *plain = strchr("\"\\/bfnrt", esc);
        if (plain && esc) {
            static const char meaning[] = "\"\\/\b\f\n\r\t";
            buffer_add(&b, &meaning[plain - "\"\\/bfnrt"], 1);
        } else if (esc == 'u') {
            uint32_t c, low;
            if (!hex4(ps, &c)) { free(b.data); return NULL; }
            /* A surrogate pair is one code point; a lone surrogate stays as it is (WTF-8). */
            if (c >= 0xD800 && c < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                const char *save = ps->p;
                ps->p += 2;
                if (hex4(ps, &low) && low >= 0xDC00 && low < 0xE000) c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                else ps->p = save;
            }
            char out[4];
            buffer_add(&b, out, (size_t)utf8_encode(c, out));
        } else {
            free(b.data);
            fail(ps, "a bad escape in a string");
            return NULL;
        }
    }
    if (ps->p >= ps->end) { free(b.data); fail(ps, "an unterminated string"); return NULL; }
    ps->p++; /* the closing quote */
    Json *j = json_string_n(b.data ? b.data : "", b.length);
    free(b.data);
    return j;
}

static Json *parse_number(Parser *ps) {
    const char *start = ps->p;
    int integral = 1;
    if (ps->p < ps->end && *ps->p == '-') ps->p++;
    if (literal(ps, "Infinity")) return json_number(start[0] == '-' ? -INFINITY : INFINITY);
    while (ps->p < ps->end && strchr("0123456789.eE+-", *ps->p)) {
        if (strchr(".eE", *ps->p)) integral = 0;
        ps->p++;
    }
    size_t n = (size_t)(ps->p - start);
    if (n == 0 || n > 400) { fail(ps, "a malformed number"); return NULL; }
    char text[401];
    memcpy(text, start, n);
    text[n] = '\0';
    char *rest;
    double x = strtod(text, &rest);
    if (*rest) { fail(ps, "a malformed number"); return NULL; }
    if (integral && n < 19) return json_int(strtoll(text, NULL, 10));
    return json_number(x);
}

static Json *parse_container(Parser *ps, char close) {
    int is_object = close == '}';
    Json *container = is_object ? json_object() : json_array();
    ps->p++;
    if (++ps->depth > MAX_DEPTH) { fail(ps, "nested too deeply"); json_free(container); return NULL; }
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) { ps->p++; ps->depth--; return container; }
    for (;;) {
        skip_space(ps);
        Json *key = NULL;
        if (is_object) {
            if (ps->p >= ps->end || *ps->p != '"' || !(key = parse_string(ps))) break;
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') { json_free(key); fail(ps, "a missing ':'"); break; }
            ps->p++;
        }
        Json *item = parse_value(ps);
        if (!item) { json_free(key); break; }
        if (is_object) { json_set(container, key->string, item); json_free(key); }
        else json_append(container, item);
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
        if (ps->p < ps->end && *ps->p == close) { ps->p++; ps->depth--; return container; }
        fail(ps, is_object ? "a missing ',' or '}'" : "a missing ',' or ']'");
        break;
    }
    fail(ps, "a malformed container");
    json_free(container);
    return NULL;
}

static Json *parse_value(Parser *ps) {
    skip_space(ps);
    if (ps->p >= ps->end) { fail(ps, "unexpected end of input"); return NULL; }
    char ch = *ps->p;
    if (ch == '{') return parse_container(ps, '}');
    if (ch == '[') return parse_container(ps, ']');
    if (ch == '"') return parse_string(ps);
    if (literal(ps, "null")) return json_null();
    if (literal(ps, "true")) return json_bool(1);
    if (literal(ps, "false")) return json_bool(0);
    if (literal(ps, "NaN")) return json_number(NAN);
    if (ch == '-' || (ch >= '0' && ch <= '9') || ch == 'I') return parse_number(ps);
    fail(ps, "an unexpected character");
    return NULL;
}

Json *json_parse(const char *text, size_t n, char *error, size_t error_size) {
    Parser ps = {text, text + n, error, error_size, 0};
    error[0] = '\0';
    Json *value = parse_value(&ps);
    skip_space(&ps);
    if (value && ps.p != ps.end) { json_free(value); fail(&ps, "extra bytes after the value"); return NULL; }
    return value;
}

/* ------------------------------------------------------------------ writing */
void buffer_add(Buffer *b, const char *bytes, size_t n) {
    if (b->length + n + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 256;
        while (b->length + n + 1 > capacity) capacity *= 2;
        b->data = checked_realloc(b->data, capacity);
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
    b->data[b->length] = '\0';
}

void buffer_str(Buffer *b, const char *text) { buffer_add(b, text, strlen(text)); }

/* "%.17g" always reads back exactly. A float that prints like an integer gets ".0", so
 * that Python reads a float back, not an int. */
void buffer_double(Buffer *b, double x) {
    if (isnan(x)) { buffer_str(b, "NaN"); return; }
    if (isinf(x)) { buffer_str(b, x > 0 ? "Infinity" : "-Infinity"); return; }
    char text[40];
    int n = snprintf(text, sizeof text, "%.17g", x);
    if (!strpbrk(text, ".en")) { text[n++] = '.'; text[n++] = '0'; text[n] = '\0'; }
    buffer_add(b, text, (size_t)n);
}

/* Everything outside printable ASCII is written as \uXXXX, so the output is plain ASCII
 * whatever the string holds (lone surrogates included). */
void buffer_json_string(Buffer *b, const char *text, size_t n) {
    buffer_add(b, "\"", 1);
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        i += (size_t)utf8_decode(s + i, n - i, &c);
        char out[16];
        if (c == '"' || c == '\\') { out[0] = '\\'; out[1] = (char)c; buffer_add(b, out, 2); }
        else if (c >= 0x20 && c < 0x7F) { out[0] = (char)c; buffer_add(b, out, 1); }
        else if (c < 0x10000) { snprintf(out, sizeof out, "\\u%04x", (unsigned)c); buffer_add(b, out, 6); }
        else {
            c -= 0x10000;
            snprintf(out, sizeof out, "\\u%04x\\u%04x", (unsigned)(0xD800 + (c >> 10)), (unsigned)(0xDC00 + (c & 0x3FF)));
            buffer_add(b, out, 12);
        }
    }
    buffer_add(b, "\"", 1);
}

void json_write(Buffer *b, const Json *value, void (*write_ref)(Buffer *, const Json *)) {
    char text[32];
    switch (value->kind) {
    case JSON_NULL: buffer_str(b, "null"); break;
    case JSON_BOOL: buffer_str(b, value->boolean ? "true" : "false"); break;
    case JSON_NUMBER:
        if (value->is_int) { snprintf(text, sizeof text, "%lld", (long long)value->integer); buffer_str(b, text); }
        else buffer_double(b, value->number);
        break;
    case JSON_STRING: buffer_json_string(b, value->string, value->length); break;
    case JSON_ARRAY:
        buffer_add(b, "[", 1);
        for (size_t i = 0; i < value->length; i++) {
            if (i) buffer_add(b, ",", 1);
            json_write(b, value->items[i], write_ref);
        }
        buffer_add(b, "]", 1);
        break;
    case JSON_OBJECT:
        buffer_add(b, "{", 1);
        for (size_t i = 0; i < value->length; i++) {
            if (i) buffer_add(b, ",", 1);
            buffer_json_string(b, value->keys[i], strlen(value->keys[i]));
            buffer_add(b, ":", 1);
            json_write(b, value->items[i], write_ref);
        }
        buffer_add(b, "}", 1);
        break;
    case JSON_OBJECTREF: write_ref(b, value); break;
    default: buffer_str(b, "null"); break;
    }
}

/* ------------------------------------------------------------------ Python's float repr */
void python_repr_double(double x, char *out, size_t size) {
    if (isnan(x)) { snprintf(out, size, "nan"); return; }
    if (isinf(x)) { snprintf(out, size, x > 0 ? "inf" : "-inf"); return; }
    char text[40];
    int precision;
    for (precision = 1; precision <= 17; precision++) { /* the fewest digits that read back */
        snprintf(text, sizeof text, "%.*e", precision - 1, x);
        if (strtod(text, NULL) == x) break;
    }
    /* text is "-d.ddde+XX": take its digits and exponent apart */
    const char *p = text;
    int negative = *p == '-';
    if (negative) p++;
    char digits[20];
    int nd = 0;
    for (; *p && *p != 'e'; p++) if (*p != '.') digits[nd++] = *p;
    int exponent = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    Buffer b = {0};
    if (negative) buffer_add(&b, "-", 1);
    if (exponent < -4 || exponent >= 16) { /* Python's switch to scientific notation */
        buffer_add(&b, digits, 1);
        if (nd > 1) { buffer_add(&b, ".", 1); buffer_add(&b, digits + 1, (size_t)nd - 1); }
        char e[16];
        snprintf(e, sizeof e, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
        buffer_str(&b, e);
    } else if (exponent < 0) {
        buffer_str(&b, "0.");
        for (int i = 0; i < -exponent - 1; i++) buffer_add(&b, "0", 1);
        buffer_add(&b, digits, (size_t)nd);
    } else {
        for (int i = 0; i <= exponent; i++) buffer_add(&b, i < nd ? &digits[i] : "0", 1);
        buffer_add(&b, ".", 1);
        if (nd > exponent + 1) buffer_add(&b, digits + exponent + 1, (size_t)(nd - exponent - 1));
        else buffer_add(&b, "0", 1);
    }
    snprintf(out, size, "%s", b.data);
    free(b.data);
}
