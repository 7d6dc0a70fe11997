/* protocol.c: framing, the request loop, handles, class descriptions, errors, draws and
 * callbacks (see protocol.h and docs/protocol.md). It mirrors the Python worker,
 * microgpt_spec/grading/serve.py. */
#include "protocol.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INCOMING (1u << 30)        /* a message from the host larger than this is a bug */
#define FIRST_OWN_HANDLE (1LL << 40)   /* handles of objects we return count from here */
#define PREFETCH_WINDOW 512            /* how far `get` reads ahead (the "pf" field) */
#define MAX_DRAW 1048576               /* numbers one draw message may ask for */
#define PROTOCOL_VERSION 3             /* the version of docs/protocol.md this speaks */

/* ------------------------------------------------------------------ errors */
int set_error(Error *error, const char *type, const char *format, ...) {
    error->set = 1;
    snprintf(error->type, sizeof error->type, "%s", type);
    va_list list;
    va_start(list, format);
    vsnprintf(error->message, sizeof error->message, format, list);
    va_end(list);
    return 0;
}

static Error missing_part; /* set by not_implemented() during a request */

void not_implemented(const char *what) {
    if (!missing_part.set) set_error(&missing_part, "NotImplementedError", "%s", what);
}

/* After a request: a part that reported itself not implemented decides its outcome. */
static int part_missing(Error *error) {
    if (!missing_part.set) return 0;
    *error = missing_part;
    missing_part.set = 0;
    return 1;
}

static Json *error_json(const Error *error) {
    Json *e = json_object();
    json_set(e, "type", json_string(error->type));
    json_set(e, "message", json_string(error->message));
    json_set(e, "kind", json_string("exception"));
    return e;
}

/* A broken message from the host: nothing sensible can follow, so say why and stop. */
static void die(const char *format, ...) {
    va_list list;
    va_start(list, format);
    fputs("microgpt-c: ", stderr);
    vfprintf(stderr, format, list);
    fputc('\n', stderr);
    va_end(list);
    exit(2);
}

/* ------------------------------------------------------------------ framing */
static int read_exact(char *into, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t got = read(0, into + done, n - done);
        if (got == 0) return 0;
        if (got < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        done += (size_t)got;
    }
    return 1;
}

static void write_exact(const char *bytes, size_t n) {
    while (n) {
        ssize_t put = write(1, bytes, n);
        if (put < 0) {
            if (errno == EINTR) continue;
            exit(0); /* the host has gone: nothing left to do */
        }
        bytes += put;
        n -= (size_t)put;
    }
}

/* The next message, parsed; NULL when standard input has closed between messages. */
static Json *receive(void) {
    unsigned char head[4];
    if (!read_exact((char *)head, 4)) return NULL;
    uint32_t n = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 24;
    if (n > MAX_INCOMING) die("a message of %u bytes announced: not the protocol", (unsigned)n);
    char *body = malloc(n ? n : 1);
    if (!body) die("out of memory reading a message of %u bytes", (unsigned)n);
    if (!read_exact(body, n)) die("standard input closed in the middle of a message");
    char problem[200];
    Json *message = json_parse(body, n, problem, sizeof problem);
    free(body);
    if (!message) die("a message that is not JSON (%s)", problem);
    return message;
}

static void write_ref(Buffer *b, const Json *ref);

static void send_message(const Json *message) {
    Buffer b = {0};
    buffer_add(&b, "\0\0\0\0", 4); /* room for the length */
    json_write(&b, message, write_ref);
    uint32_t n = (uint32_t)(b.length - 4);
    for (int i = 0; i < 4; i++) b.data[i] = (char)(n >> (8 * i) & 0xFF);
    write_exact(b.data, b.length);
    free(b.data);
}

/* ------------------------------------------------------------------ classes */
/* The host learns each class once, in the "cls" field of the first reply that uses it. */
#define MAX_CLASSES 32
static const Class *classes[MAX_CLASSES];
static int described[MAX_CLASSES];
static int class_count;

static int class_id(const Class *cls) {
    for (int i = 0; i < class_count; i++)
        if (classes[i] == cls) return i + 1;
    if (class_count == MAX_CLASSES) die("too many classes");
    classes[class_count++] = cls;
    return class_count;
}

static Json *new_class_descriptions(void) {
    Json *descriptions = json_object();
    for (int i = 0; i < class_count; i++) {
        if (described[i]) continue;
        described[i] = 1;
        Json *methods = json_array();
        for (const char *const *m = classes[i]->methods; m && *m; m++) json_append(methods, json_string(*m));
        Json *d = json_object();
        json_set(d, "name", json_string(classes[i]->name));
        json_set(d, "methods", methods);
        json_set(d, "seq", json_bool(0));
        json_set(d, "call", json_bool(0));
        char key[16];
        snprintf(key, sizeof key, "%d", i + 1);
        json_set(descriptions, key, d);
    }
    return descriptions;
}

Json *json_ref(const Class *cls, void *self) {
    Json *j = json_null();
    j->kind = JSON_OBJECTREF;
    j->ref = self;
    j->ref_class = cls;
    return j;
}

/* ------------------------------------------------------------------ the table of handles */
/* An open-addressing hash table: handle id -> the object, or the error of the
 * asynchronous request that should have made it ("a handle whose request failed fails
 * again when used"). */
typedef struct {
    int64_t id;
    int state;          /* 0 empty, 1 in use, 2 deleted */
    const Class *cls;
    void *self;
    Error *failed;      /* non-NULL: this handle's request failed */
} Slot;

static Slot *slots;
static size_t slot_count, slots_used; /* used counts deleted slots too, until the next rehash */

static size_t slot_hash(int64_t id) { return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 17); }

static Slot *find_slot(int64_t id) {
    if (!slot_count) return NULL;
    for (size_t i = slot_hash(id) & (slot_count - 1);; i = (i + 1) & (slot_count - 1)) {
        if (slots[i].state == 0) return NULL;
        if (slots[i].state == 1 && slots[i].id == id) return &slots[i];
    }
}

static void insert_slot(Slot entry);

static void rehash(size_t new_count) {
    Slot *old = slots;
    size_t old_count = slot_count;
    slots = calloc(new_count, sizeof *slots);
    if (!slots) die("out of memory for handles");
    slot_count = new_count;
    slots_used = 0;
    for (size_t i = 0; i < old_count; i++)
        if (old[i].state == 1) insert_slot(old[i]);
    free(old);
}

static void insert_slot(Slot entry) {
    if (2 * (slots_used + 1) > slot_count) rehash(slot_count ? 2 * slot_count : 1024);
    size_t i = slot_hash(entry.id) & (slot_count - 1);
    while (slots[i].state == 1) i = (i + 1) & (slot_count - 1);
    if (slots[i].state == 0) slots_used++;
    entry.state = 1;
    slots[i] = entry;
}

static void forget(int64_t id) {
    Slot *slot = find_slot(id);
    if (!slot) return;
    if (slot->failed) free(slot->failed);
    else if (slot->cls->release) slot->cls->release(slot->self);
    slot->state = 2;
    slot->failed = NULL;
}

/* Store an object under `id` (one reference more for it). */
static void store(int64_t id, const Class *cls, void *self) {
    forget(id);
    if (cls->retain) cls->retain(self);
    insert_slot((Slot){.id = id, .cls = cls, .self = self});
}

static void store_failure(int64_t id, const Error *error) {
    forget(id);
    Error *copy = malloc(sizeof *copy);
    *copy = *error;
    insert_slot((Slot){.id = id, .failed = copy});
}

/* ------------------------------------------------------------------ replies under way */
static int64_t next_own_handle = FIRST_OWN_HANDLE;
static Json *async_made;    /* [[handle, class id], ...] made by asynchronous requests: "hc" */
static Json *reply_extras;  /* fields a call adds to its reply ("kv") */

/* A JSON_OBJECTREF in a reply becomes a new handle of ours. */
static void write_ref(Buffer *b, const Json *ref) {
    const Class *cls = ref->ref_class;
    int64_t id = next_own_handle++;
    store(id, cls, ref->ref);
    char text[64];
    snprintf(text, sizeof text, "{\"h\":%lld,\"c\":%d}", (long long)id, class_id(cls));
    buffer_str(b, text);
}

void protocol_reply_field(const char *name, Json *value) { json_set(reply_extras, name, value); }

/* ------------------------------------------------------------------ tagged values */
/* Turn the protocol's tags into what the microgpt parts read: {"t": [...]} (a tuple) and
 * {"range": ...} become arrays, {"d": [[k, v]...]} (a dict) and {"dc": name, "f": {...}}
 * (a dataclass) become objects, {"h": id} the object under that handle, {"rng": ...} a
 * generator's key, {"cb": id} a callback. In place; 0 with `error` on a bad value. */
static void take_over(Json *node, Json *from) {
    /* `node` becomes `from` (whose own node is freed): lets a tag turn into its content. */
    free(node->items);
    free(node->keys);
    free(node->string);
    *node = *from;
    free(from);
}

/* Free every field of the object `node` except `keep`, which its caller takes. */
static void detach(Json *node, const Json *keep) {
    for (size_t i = 0; i < node->length; i++) {
        if (node->items[i] != keep) json_free(node->items[i]);
        free(node->keys[i]);
    }
    node->length = 0;
}

static int resolve(Json *node, Error *error) {
    if (node->kind == JSON_ARRAY) {
        for (size_t i = 0; i < node->length; i++)
            if (!resolve(node->items[i], error)) return 0;
        return 1;
    }
    if (node->kind != JSON_OBJECT) return 1;
    Json *inner;
    if ((inner = json_get(node, "t")) && inner->kind == JSON_ARRAY) {
        detach(node, inner);
        take_over(node, inner);
        return resolve(node, error);
    }
    if ((inner = json_get(node, "d")) && inner->kind == JSON_ARRAY) {
        Json *dict = json_object();
        for (size_t i = 0; i < inner->length; i++) {
            Json *pair = inner->items[i];
            if (pair->kind != JSON_ARRAY || pair->length != 2) die("a malformed dict");
            if (!resolve(pair->items[1], error)) { json_free(dict); return 0; }
            char key[64];
            const char *name = key;
            if (pair->items[0]->kind == JSON_STRING) name = pair->items[0]->string;
            else if (pair->items[0]->kind == JSON_NUMBER) snprintf(key, sizeof key, "%lld", (long long)pair->items[0]->integer);
            else { json_free(dict); return set_error(error, "TypeError", "a dict key that is not a string or int"); }
            json_set(dict, name, pair->items[1]);
            pair->items[1] = json_null();
        }
        detach(node, NULL);
        take_over(node, dict);
        return 1;
    }
    if (json_get(node, "dc") && (inner = json_get(node, "f")) && inner->kind == JSON_OBJECT) {
        detach(node, inner);
        take_over(node, inner); /* the fields, by name; their values may hold tags */
        for (size_t i = 0; i < node->length; i++)
            if (!resolve(node->items[i], error)) return 0;
        return 1;
    }
    if ((inner = json_get(node, "h")) && inner->kind == JSON_NUMBER) {
        int64_t id = inner->integer;
        Slot *slot = find_slot(id);
        if (!slot) die("no object under handle %lld", (long long)id);
        if (slot->failed) { *error = *slot->failed; return 0; }
        detach(node, NULL);
        free(node->items);
        free(node->keys);
        node->items = NULL;
        node->keys = NULL;
        node->length = node->capacity = 0;
        node->kind = JSON_OBJECTREF;
        node->ref = slot->self;
        node->ref_class = slot->cls;
        node->integer = id;
        return 1;
    }
    if ((inner = json_get(node, "rng")) && (inner = json_get(inner, "k")) && inner->kind == JSON_NUMBER) {
        int64_t key = inner->integer;
        detach(node, NULL);
        node->kind = JSON_RNG;
        node->integer = key;
        return 1;
    }
    if ((inner = json_get(node, "cb")) && inner->kind == JSON_NUMBER) {
        int64_t id = inner->integer;
        detach(node, NULL);
        node->kind = JSON_CALLBACK;
        node->integer = id;
        return 1;
    }
    if ((inner = json_get(node, "range")) && inner->kind == JSON_ARRAY && inner->length == 3) {
        int64_t start = inner->items[0]->integer, stop = inner->items[1]->integer, step = inner->items[2]->integer;
        if (step == 0) return set_error(error, "ValueError", "range() arg 3 must not be zero");
        Json *list = json_array();
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) json_append(list, json_int(i));
        detach(node, NULL);
        take_over(node, list);
        return 1;
    }
    die("a JSON object that is no tag of the protocol");
    return 0;
}

/* ------------------------------------------------------------------ arguments */
int bind_args(const Args *args, const char *function, const char *const *names, int required, const Json **out,
              Error *error) {
    int count = 0;
    while (names[count]) count++;
    for (int i = 0; i < count; i++) out[i] = NULL;
    size_t given = args->positional ? args->positional->length : 0;
    if (given > (size_t)count)
        return set_error(error, "TypeError", "%s() takes %d positional arguments but %zu were given", function, count,
                         given);
    for (size_t i = 0; i < given; i++) out[i] = args->positional->items[i];
    for (size_t k = 0; args->keywords && k < args->keywords->length; k++) {
        const Json *pair = args->keywords->items[k];
        if (pair->kind != JSON_ARRAY || pair->length != 2 || pair->items[0]->kind != JSON_STRING)
            die("malformed keyword arguments");
        int found = -1;
        for (int i = 0; i < count; i++)
            if (strcmp(names[i], pair->items[0]->string) == 0) found = i;
        if (found < 0)
            return set_error(error, "TypeError", "%s() got an unexpected keyword argument '%s'", function,
                             pair->items[0]->string);
        if (out[found])
            return set_error(error, "TypeError", "%s() got multiple values for argument '%s'", function, names[found]);
        out[found] = pair->items[1];
    }
    for (int i = 0; i < required; i++)
        if (!out[i]) return set_error(error, "TypeError", "%s() missing required argument: '%s'", function, names[i]);
    return 1;
}

/* ------------------------------------------------------------------ draws and callbacks */
int protocol_draw(const Json *rng, const char *dist, size_t n, double mu, double sigma, double *out, Error *error) {
    if (!rng || rng->kind != JSON_RNG) return set_error(error, "TypeError", "expected a random.Random");
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < MAX_DRAW ? n - done : MAX_DRAW;
        Json *what = json_object();
        json_set(what, "k", json_int(rng->integer));
        json_set(what, "dist", json_string(dist));
        json_set(what, "n", json_int((int64_t)chunk));
        if (strcmp(dist, "gauss") == 0) {
            json_set(what, "mu", json_number(mu));
            json_set(what, "sigma", json_number(sigma));
        }
        Json *message = json_set(json_object(), "draw", what);
        send_message(message);
        json_free(message);
        Json *answer = receive();
        if (!answer) exit(0);
        Json *numbers = json_get(answer, "r");
        if (!numbers || numbers->kind != JSON_ARRAY || numbers->length != chunk) die("a malformed answer to a draw");
        for (size_t i = 0; i < chunk; i++) out[done + i] = numbers->items[i]->number;
        json_free(answer);
        done += chunk;
    }
    return 1;
}

int protocol_callback(const Json *callback, Json *args, Error *error) {
    Json *message = json_object();
    json_set(message, "cb", json_int(callback->integer));
    json_set(message, "args", args);
    json_set(message, "kwargs", json_array());
    send_message(message);
    json_free(message);
    Json *answer = receive();
    if (!answer) exit(0);
    Json *failure = json_get(answer, "e");
    int ok = 1;
    if (failure) {
        ok = set_error(error, "RuntimeError", "the grader's callback failed: %s",
                       failure->kind == JSON_STRING ? failure->string : "?");
    }
    json_free(answer);
    return ok;
}

/* ------------------------------------------------------------------ requests */
static const char *text_of(const Json *j) { return j && j->kind == JSON_STRING ? j->string : ""; }

static int64_t int_of(const Json *j) {
    if (!j || j->kind != JSON_NUMBER) die("a request field that should be a number is not");
    return j->integer;
}

static Slot *object_slot(int64_t id, Error *error) {
    Slot *slot = find_slot(id);
    if (!slot) die("no object under handle %lld", (long long)id);
    if (slot->failed) { *error = *slot->failed; return NULL; }
    return slot;
}

/* An operator's operand: a number, or a handle resolved to its object. */
static int operand(Json *raw, Error *error) { return resolve(raw, error); }

static Json *run_binary(const char *op, Json *left, Json *right, Error *error) {
    if (!operand(left, error) || !operand(right, error)) return NULL;
    const Json *ours = left->kind == JSON_OBJECTREF ? left : right->kind == JSON_OBJECTREF ? right : NULL;
    const Class *cls = ours ? ours->ref_class : NULL;
    if (!cls || !cls->binary) {
        set_error(error, "TypeError", "unsupported operand type(s) for %s", op);
        return NULL;
    }
    return cls->binary(op, left, right, error);
}

static Json *run_call(int64_t target, const char *method, Json *args, Json *kwargs, Error *error) {
    Slot *slot = object_slot(target, error);
    if (!slot) return NULL;
    if (args && !resolve(args, error)) return NULL;
    if (kwargs && !resolve(kwargs, error)) return NULL;
    if (!slot->cls->call) {
        set_error(error, "AttributeError", "'%s' object has no attribute '%s'", slot->cls->name, method);
        return NULL;
    }
    Args a = {args, kwargs};
    return slot->cls->call(slot->self, method, &a, error);
}

/* One asynchronous request: its result is stored under the id the host chose. */
static void run_async(Json *request, Error *deferred) {
    const char *kind = text_of(request->items[0]);
    Error error = {0};
    Json *result = NULL;
    int64_t id = -1;
    if (strcmp(kind, "rel") == 0) {
        Json *ids = request->length > 1 ? request->items[1] : NULL;
        for (size_t i = 0; ids && i < ids->length; i++) forget(int_of(ids->items[i]));
        return;
    }
    if (strcmp(kind, "op") == 0 && request->length == 5) {
        id = int_of(request->items[1]);
        result = run_binary(text_of(request->items[2]), request->items[3], request->items[4], &error);
    } else if (strcmp(kind, "un") == 0 && request->length == 4) {
        id = int_of(request->items[1]);
        if (operand(request->items[3], &error)) {
            const Json *x = request->items[3];
            if (x->kind == JSON_OBJECTREF && ((const Class *)x->ref_class)->unary)
                result = ((const Class *)x->ref_class)->unary(text_of(request->items[2]), x->ref, &error);
            else set_error(&error, "TypeError", "bad operand type for unary %s", text_of(request->items[2]));
        }
    } else if (strcmp(kind, "acall") == 0 && request->length == 5) {
        id = int_of(request->items[1]);
        result = run_call(int_of(request->items[2]), text_of(request->items[3]), request->items[4], NULL, &error);
    } else if (strcmp(kind, "set") == 0 && request->length == 4) {
        Slot *slot = object_slot(int_of(request->items[1]), &error);
        if (slot && resolve(request->items[3], &error)) {
            if (!slot->cls->set)
                set_error(&error, "AttributeError", "'%s' object attribute '%s' is read-only", slot->cls->name,
                          text_of(request->items[2]));
            else slot->cls->set(slot->self, text_of(request->items[2]), request->items[3], &error);
        }
    } else {
        die("an unknown asynchronous request '%.40s'", kind);
    }
    if (part_missing(&error)) { json_free(result); result = NULL; }
    if (id >= 0 && result && result->kind != JSON_OBJECTREF && !error.set)
        set_error(&error, "TypeError", "the result of this request is not an object");
    if (error.set) {
        if (id >= 0) store_failure(id, &error);
        if (!deferred->set) *deferred = error;
    } else if (id >= 0) {
        store(id, result->ref_class, result->ref);
        json_append(async_made, json_append(json_append(json_array(), json_int(id)),
                                            json_int(class_id(result->ref_class))));
    }
    json_free(result);
}

static int is_method(const Class *cls, const char *name) {
    for (const char *const *m = cls->methods; m && *m; m++)
        if (strcmp(*m, name) == 0) return 1;
    return 0;
}

/* "pf": the same number attribute of the next handles of the same class, read ahead
 * (the spec reads `n.data` of many nodes in a row: this saves a round trip each). */
static Json *read_ahead(int64_t id, const Class *cls, const char *name) {
    Json *found = json_array();
    for (int64_t other = id + 1; other <= id + PREFETCH_WINDOW; other++) {
        Slot *slot = find_slot(other);
        if (!slot || slot->failed || slot->cls != cls) continue;
        Error ignored = {0};
        Json *value = cls->get(slot->self, name, &ignored);
        if (value && value->kind == JSON_NUMBER)
            json_append(found, json_append(json_append(json_array(), json_int(other)), value));
        else json_free(value);
    }
    return found;
}

/* One synchronous request: its result, or NULL with `error`. */
static Json *run_sync(Json *request, Error *error) {
    const char *kind = text_of(request->items[0]);
    size_t n = request->length;
    if (strcmp(kind, "flush") == 0) return json_null();
    if (strcmp(kind, "call") == 0 && n == 5)
        return run_call(int_of(request->items[1]), text_of(request->items[2]), request->items[3], request->items[4],
                        error);
    if (n < 2) die("a request too short: '%.40s'", kind);
    int64_t id = int_of(request->items[1]);
    Slot *slot = object_slot(id, error);
    if (!slot) return NULL;
    const Class *cls = slot->cls;
    if (strcmp(kind, "get") == 0 && n == 3) {
        const char *name = text_of(request->items[2]);
        if (is_method(cls, name)) { /* a method: the host calls it by name */
            protocol_reply_field("meth", json_bool(1));
            return json_null();
        }
        Json *value = cls->get ? cls->get(slot->self, name, error) : NULL;
        if (!value && !error->set) set_error(error, "AttributeError", "'%s' object has no attribute '%s'", cls->name, name);
        if (value && value->kind == JSON_NUMBER) protocol_reply_field("pf", read_ahead(id, cls, name));
        return value;
    }
    if (strcmp(kind, "float") == 0) {
        double x;
        if (!cls->to_float) {
            set_error(error, "TypeError", "float() argument must be a string or a real number, not '%s'", cls->name);
            return NULL;
        }
        return cls->to_float(slot->self, &x, error) ? json_number(x) : NULL;
    }
    if (strcmp(kind, "repr") == 0 || strcmp(kind, "str") == 0) {
        char text[2048];
        if (cls->repr) cls->repr(slot->self, text, sizeof text);
        else snprintf(text, sizeof text, "<%s object>", cls->name);
        return json_string(text);
    }
    if (strcmp(kind, "bool") == 0) return json_bool(1); /* Python objects are true by default */
    set_error(error, "TypeError", "'%s' object does not support %s()", cls->name, kind);
    return NULL;
}

/* The first error of an asynchronous request not yet reported: kept, across batches, until
 * a reply carries it in place of its result. */
static Error deferred;

static void run_batch(Json *batch) {
    Json *asynchronous = json_get(batch, "a"), *synchronous = json_get(batch, "s");
    if (!asynchronous && !synchronous) die("a batch without \"a\" or \"s\"");
    for (size_t i = 0; asynchronous && i < asynchronous->length; i++) {
        Json *request = asynchronous->items[i];
        if (request->kind != JSON_ARRAY || request->length < 1) die("a malformed asynchronous request");
        run_async(request, &deferred);
    }
    if (!synchronous || synchronous->kind == JSON_NULL) return;
    if (synchronous->kind != JSON_ARRAY || synchronous->length < 1) die("a malformed synchronous request");
    Json *reply = json_object();
    reply_extras = json_object();
    Error error = {0};
    Json *result = NULL;
    if (deferred.set) { error = deferred; deferred.set = 0; } /* an earlier asynchronous request failed */
    else result = run_sync(synchronous, &error);
    if (part_missing(&error)) { json_free(result); result = NULL; }
    if (error.set) json_set(reply, "e", error_json(&error));
    else json_set(reply, "r", result ? result : json_null());
    if (error.set) json_free(result);
    for (size_t i = 0; i < reply_extras->length; i++) {
        json_set(reply, reply_extras->keys[i], reply_extras->items[i]);
        reply_extras->items[i] = NULL;
    }
    reply_extras->length = 0; /* its values now belong to `reply` */
    json_free(reply_extras);
    reply_extras = NULL;
    if (async_made->length) {
        json_set(reply, "hc", async_made);
        async_made = json_array();
    }
    /* Written in two steps: writing "r" may name classes for the first time ("cls"). */
    Buffer b = {0};
    buffer_add(&b, "\0\0\0\0", 4);
    json_write(&b, reply, write_ref);
    Json *descriptions = new_class_descriptions();
    if (descriptions->length) {
        b.length--; /* reopen the object: drop its closing brace */
        buffer_str(&b, ",\"cls\":");
        json_write(&b, descriptions, write_ref);
        buffer_str(&b, "}");
    }
    json_free(descriptions);
    uint32_t size = (uint32_t)(b.length - 4);
    for (int i = 0; i < 4; i++) b.data[i] = (char)(size >> (8 * i) & 0xFF);
    write_exact(b.data, b.length);
    free(b.data);
    json_free(reply);
}

int protocol_serve(void) {
    async_made = json_array();
    store(0, &BACKEND_CLASS, NULL);
    Json *methods = json_array();
    for (const char *const *m = BACKEND_METHODS; *m; m++) json_append(methods, json_string(*m));
    Json *ready = json_object();
    json_set(ready, "protocol", json_int(PROTOCOL_VERSION));
    json_set(ready, "name", json_string(BACKEND_NAME));
    json_set(ready, "version", json_string(BACKEND_VERSION));
    json_set(ready, "precision", json_string("float64"));
    json_set(ready, "methods", methods);
    Json *message = json_set(json_object(), "ready", ready);
    send_message(message);
    json_free(message);
    for (;;) {
        Json *batch = receive();
        if (!batch) return 0; /* standard input closed: the host is done with us */
        if (batch->kind != JSON_OBJECT) die("a batch that is not a JSON object");
        run_batch(batch);
        json_free(batch);
    }
}
