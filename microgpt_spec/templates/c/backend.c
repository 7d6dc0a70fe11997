/* backend.c: the contract's methods (spec/contract.py) on top of the microgpt parts.
 *
 * This is glue only: it turns the protocol's JSON arguments into arrays, calls the part
 * that does the work (engine.c, tokenizer.c, model.c, loss.c, adam.c, sampling.c,
 * train.c) and turns the result back into JSON. It also describes the three kinds of
 * object the host holds by handle: Value, CharTokenizer and Adam.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "engine.h"
#include "loss.h"
#include "model.h"
#include "protocol.h"
#include "sampling.h"
#include "tokenizer.h"
#include "train.h"

const char *const BACKEND_METHODS[] = {"build_tokenizer", "value", "linear", "softmax", "rmsnorm", "attention",
                                       "mlp", "gpt", "cross_entropy", "loss_and_grads", "adam", "sample_next",
                                       "generate", "init_params", "train", NULL};

/* ================================================================== JSON <-> numbers */
static int number_of(const Json *j, double *x) {
    if (j && j->kind == JSON_NUMBER) { *x = j->number; return 1; }
    if (j && j->kind == JSON_BOOL) { *x = j->boolean; return 1; }
    *x = 0.0;
    return 0;
}

static int as_number(const Json *j, const char *what, double *x, Error *error) {
    return number_of(j, x) ? 1 : set_error(error, "TypeError", "%s must be a number", what);
}

static int as_int(const Json *j, const char *what, int *out, Error *error) {
    if (!j || j->kind != JSON_NUMBER || !j->is_int)
        return set_error(error, "TypeError", "%s must be an int", what);
    if (j->integer < -2147483647 || j->integer > 2147483647) return set_error(error, "IndexError", "%s out of range", what);
    *out = (int)j->integer;
    return 1;
}

/* A list of numbers -> a malloc'ed array of n doubles. */
static double *as_vector(const Json *j, const char *what, int *n, Error *error) {
    if (!j || j->kind != JSON_ARRAY) { set_error(error, "TypeError", "%s must be a list of numbers", what); return NULL; }
    double *v = malloc((j->length ? j->length : 1) * sizeof *v);
    for (size_t i = 0; i < j->length; i++)
        if (!as_number(j->items[i], what, &v[i], error)) { free(v); return NULL; }
    *n = (int)j->length;
    return v;
}

/* A list of rows of equal length -> a malloc'ed row-major array. */
static double *as_matrix(const Json *j, const char *what, int *rows, int *cols, Error *error) {
    if (!j || j->kind != JSON_ARRAY) { set_error(error, "TypeError", "%s must be a list of rows", what); return NULL; }
    *rows = (int)j->length;
    *cols = j->length && j->items[0]->kind == JSON_ARRAY ? (int)j->items[0]->length : 0;
    double *m = malloc(((size_t)*rows * (size_t)*cols + 1) * sizeof *m);
    for (int r = 0; r < *rows; r++) {
        const Json *row = j->items[r];
        if (row->kind != JSON_ARRAY || (int)row->length != *cols) {
            free(m);
            set_error(error, "ValueError", "%s: every row must have %d numbers", what, *cols);
            return NULL;
        }
        for (int c = 0; c < *cols; c++)
            if (!as_number(row->items[c], what, &m[(size_t)r * *cols + c], error)) { free(m); return NULL; }
    }
    return m;
}

static Json *tuple(Json *items) { return json_set(json_object(), "t", items); }

static Json *int_list(const int64_t *ids, long n) {
    Json *list = json_array();
    for (long i = 0; i < n; i++) json_append(list, json_int(ids[i]));
    return list;
}

static Json *matrix_json(const double *m, int rows, int cols) {
    Json *list = json_array();
    for (int r = 0; r < rows; r++) json_append(list, json_doubles(m + (size_t)r * cols, (size_t)cols));
    return list;
}

static int as_config(const Json *j, Config *c, Error *error) {
    const char *names[] = {"vocab_size", "n_layer", "n_embd", "n_head", "block_size"};
    int *fields[] = {&c->vocab_size, &c->n_layer, &c->n_embd, &c->n_head, &c->block_size};
    if (!j || j->kind != JSON_OBJECT) return set_error(error, "TypeError", "config must be a Config");
    for (int i = 0; i < 5; i++)
        if (!as_int(json_get(j, names[i]), names[i], fields[i], error)) return 0;
    if (c->n_head < 1 || c->n_embd % c->n_head || c->vocab_size < 2 || c->n_layer < 1 || c->block_size < 1)
        return set_error(error, "ValueError", "not a valid Config");
    return 1;
}

/* Params (name -> matrix) into the flat layout, checked like contract.check_params. */
static int as_params(const Json *j, const Config *c, double *flat, Error *error) {
    if (!j || j->kind != JSON_OBJECT) return set_error(error, "TypeError", "params must be a dict");
    Shape shapes[3 + 6 * c->n_layer];
    int n = param_shapes(c, shapes);
    if ((int)j->length != n) return set_error(error, "ValueError", "parameter names do not fit the config");
    for (int s = 0; s < n; s++) {
        const Json *matrix = json_get(j, shapes[s].name);
        if (!matrix) return set_error(error, "ValueError", "parameter names do not fit the config: missing '%s'", shapes[s].name);
        if (matrix->kind != JSON_ARRAY || (int)matrix->length != shapes[s].rows)
            return set_error(error, "ValueError", "parameter '%s' should be %dx%d", shapes[s].name, shapes[s].rows, shapes[s].cols);
        for (int r = 0; r < shapes[s].rows; r++) {
            const Json *row = matrix->items[r];
            if (row->kind != JSON_ARRAY || (int)row->length != shapes[s].cols)
                return set_error(error, "ValueError", "parameter '%s' should be %dx%d", shapes[s].name, shapes[s].rows, shapes[s].cols);
            for (int k = 0; k < shapes[s].cols; k++) {
                double *x = &flat[shapes[s].offset + (size_t)r * shapes[s].cols + k];
                if (!as_number(row->items[k], shapes[s].name, x, error)) return 0;
                if (!isfinite(*x)) return set_error(error, "ValueError", "parameter '%s' holds a value that is not finite", shapes[s].name);
            }
        }
    }
    return 1;
}

/* The flat layout as a dict name -> matrix: {"d": [[name, rows], ...]}. */
static Json *params_json(const Config *c, const double *flat) {
    Shape shapes[3 + 6 * c->n_layer];
    int n = param_shapes(c, shapes);
    Json *pairs = json_array();
    for (int s = 0; s < n; s++) {
        Json *pair = json_append(json_array(), json_string(shapes[s].name));
        json_append(pairs, json_append(pair, matrix_json(flat + shapes[s].offset, shapes[s].rows, shapes[s].cols)));
    }
    return json_set(json_object(), "d", pairs);
}

/* A model from (params, config) arguments. */
static int load_model(const Json *params, const Json *config, Model *m, Error *error) {
    Config c;
    if (!as_config(config, &c, error) || !model_init(m, &c, error)) return 0;
    if (!as_params(params, &c, m->params, error)) { model_free(m); return 0; }
    model_refresh(m);
    return 1;
}

/* ================================================================== Value */
static const char *const VALUE_METHODS[] = {"log", "exp", "relu", "backward", NULL};
extern const Class VALUE_CLASS;

static Json *value_ref(Value *v) { return v ? json_ref(&VALUE_CLASS, v) : NULL; }

static Json *value_get(void *self, const char *name, Error *error) {
    Value *v = self;
    if (strcmp(name, "data") == 0) return json_number(v->data);
    if (strcmp(name, "grad") == 0) return json_number(v->grad);
    set_error(error, "AttributeError", "'Value' object has no attribute '%s'", name);
    return NULL;
}

static int value_set(void *self, const char *name, const Json *value, Error *error) {
    Value *v = self;
    double x;
    if (!as_number(value, name, &x, error)) return 0;
    if (strcmp(name, "data") == 0) v->data = x;
    else if (strcmp(name, "grad") == 0) v->grad = x;
    else return set_error(error, "AttributeError", "'Value' object has no attribute '%s'", name);
    return 1;
}

static Json *value_call(void *self, const char *method, const Args *args, Error *error) {
    Value *v = self;
    if (args->positional && args->positional->length)
        { set_error(error, "TypeError", "Value.%s() takes no arguments", method); return NULL; }
    if (strcmp(method, "log") == 0) return value_ref(value_log(v, error));
    if (strcmp(method, "exp") == 0) return value_ref(value_exp(v, error));
    if (strcmp(method, "relu") == 0) return value_ref(value_relu(v, error));
    if (strcmp(method, "backward") == 0) return value_backward(v, error) ? json_null() : NULL;
    set_error(error, "AttributeError", "'Value' object has no attribute '%s'", method);
    return NULL;
}

/* An operand: our Value, or a plain number made a constant leaf (as the original does). */
static Value *operand_value(const Json *j, Error *error) {
    double x;
    if (j->kind == JSON_OBJECTREF && j->ref_class == &VALUE_CLASS) return j->ref;
    if (number_of(j, &x)) return value_new(x, error);
    set_error(error, "TypeError", "unsupported operand type for a Value");
    return NULL;
}

static Value *forget_constant(const Json *j, Value *operand, Value *result) {
    /* a constant leaf made for this operation only: kept alive by `result`, else freed */
    if (j->kind != JSON_OBJECTREF && operand) { value_retain(operand); value_release(operand); }
    return result;
}

static Json *value_binary(const char *op, const Json *left, const Json *right, Error *error) {
    int left_is_value = left->kind == JSON_OBJECTREF && left->ref_class == &VALUE_CLASS;
    double k, plain;
    if (strcmp(op, "pow") == 0) { /* a ** k: k must be a plain number */
        if (!left_is_value || !number_of(right, &k)) {
            set_error(error, "TypeError", "Value ** exponent: the exponent must be a plain int or float");
            return NULL;
        }
        return value_ref(value_pow(left->ref, k, error));
    }
    if (strcmp(op, "truediv") == 0 && !left_is_value) { /* n / a = a ** -1 * n */
        Value *inverse = value_pow(right->ref, -1.0, error);
        if (!inverse) return NULL;
        Value *n = operand_value(left, error);
        Value *result = n ? value_mul(inverse, n, error) : NULL;
        forget_constant(left, n, result);
        value_retain(inverse);
        value_release(inverse);
        return value_ref(result);
    }
    if (strcmp(op, "truediv") == 0 && number_of(right, &plain)) { /* a / n = a * (n ** -1) */
        double inverse;
        if (!python_pow(plain, -1.0, &inverse, error)) return NULL;
        Value *constant = value_new(inverse, error);
        Value *result = value_mul(left->ref, constant, error);
        value_retain(constant);
        value_release(constant);
        return value_ref(result);
    }
    if (strcmp(op, "sub") == 0 && left_is_value && number_of(right, &plain)) { /* a - n = a + (-n) */
        Value *constant = value_new(-plain, error);
        Value *result = value_add(left->ref, constant, error);
        value_retain(constant);
        value_release(constant);
        return value_ref(result);
    }
    if (strcmp(op, "sub") == 0 && !left_is_value) { /* n - a = (-a) + n */
        Value *minus_a = value_neg(right->ref, error);
        if (!minus_a) return NULL;
        Value *n = operand_value(left, error);
        Value *result = n ? value_add(minus_a, n, error) : NULL;
        forget_constant(left, n, result);
        value_retain(minus_a);
        value_release(minus_a);
        return value_ref(result);
    }
    /* a + b, a * b, a - b, a / b with Values (or n + a, n * a: the Value goes first) */
    const Json *first = left_is_value ? left : right, *second = left_is_value ? right : left;
    Value *a = first->ref, *b = operand_value(second, error);
    if (!b) return NULL;
    Value *result = NULL;
    if (strcmp(op, "add") == 0) result = value_add(a, b, error);
    else if (strcmp(op, "mul") == 0) result = value_mul(a, b, error);
    else if (strcmp(op, "sub") == 0) result = value_sub(a, b, error);
    else if (strcmp(op, "truediv") == 0) result = value_div(a, b, error);
    else set_error(error, "TypeError", "unsupported operator %s", op);
    forget_constant(second, b, result);
    return value_ref(result);
}

static Json *value_unary(const char *op, void *self, Error *error) {
    if (strcmp(op, "neg") == 0) return value_ref(value_neg(self, error));
    set_error(error, "TypeError", "bad operand type for unary %s: 'Value'", strcmp(op, "pos") == 0 ? "+" : "abs()");
    return NULL;
}

static int value_float(void *self, double *out, Error *error) {
    (void)error;
    *out = ((Value *)self)->data;
    return 1;
}

static void value_repr(void *self, char *out, size_t size) {
    char data[40], grad[40];
    python_repr_double(((Value *)self)->data, data, sizeof data);
    python_repr_double(((Value *)self)->grad, grad, sizeof grad);
    snprintf(out, size, "Value(data=%s, grad=%s)", data, grad);
}

static void value_retain_object(void *self) { value_retain(self); }
static void value_release_object(void *self) { value_release(self); }

const Class VALUE_CLASS = {"Value", VALUE_METHODS, value_get, value_set, value_call, value_binary, value_unary,
                           value_float, value_repr, value_retain_object, value_release_object};

/* ================================================================== CharTokenizer */
static const char *const TOKENIZER_METHODS[] = {"encode", "decode", "sequence", NULL};

static Json *tokenizer_get(void *self, const char *name, Error *error) {
    Tokenizer *tok = self;
    if (strcmp(name, "bos") == 0) return json_int((int64_t)tok->n);
    if (strcmp(name, "vocab_size") == 0) return json_int((int64_t)tok->n + 1);
    if (strcmp(name, "chars") == 0) {
        Json *chars = json_array();
        for (size_t i = 0; i < tok->n; i++) {
            char text[5];
            json_append(chars, json_string_n(text, (size_t)utf8_encode(tok->chars[i], text)));
        }
        return chars;
    }
    set_error(error, "AttributeError", "'CharTokenizer' object has no attribute '%s'", name);
    return NULL;
}

static Json *tokenizer_call(void *self, const char *method, const Args *args, Error *error) {
    Tokenizer *tok = self;
    const char *const text_names[] = {"text", NULL}, *const ids_names[] = {"ids", NULL};
    const Json *arg[1];
    int is_sequence = strcmp(method, "sequence") == 0;
    if (strcmp(method, "encode") == 0 || is_sequence) {
        if (!bind_args(args, method, text_names, 1, arg, error)) return NULL;
        if (arg[0]->kind != JSON_STRING) { set_error(error, "TypeError", "%s() takes a string", method); return NULL; }
        int64_t *ids = malloc((arg[0]->length + 2) * sizeof *ids);
        long n = tokenizer_encode(tok, arg[0]->string, arg[0]->length, ids + is_sequence, error);
        Json *result = NULL;
        if (n >= 0 && is_sequence) { ids[0] = ids[n + 1] = (int64_t)tok->n; result = int_list(ids, n + 2); }
        else if (n >= 0) result = int_list(ids, n);
        free(ids);
        return result;
    }
    if (strcmp(method, "decode") == 0) {
        if (!bind_args(args, method, ids_names, 1, arg, error)) return NULL;
        if (arg[0]->kind != JSON_ARRAY) { set_error(error, "TypeError", "decode() takes a list of ids"); return NULL; }
        size_t n = arg[0]->length;
        int64_t *ids = malloc((n + 1) * sizeof *ids);
        char *text = malloc(4 * n + 1);
        Json *result = NULL;
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            int id;
            ok = as_int(arg[0]->items[i], "a token id", &id, error);
            ids[i] = id;
        }
        long bytes = ok ? tokenizer_decode(tok, ids, n, text, error) : -1;
        if (bytes >= 0) result = json_string_n(text, (size_t)bytes);
        free(ids);
        free(text);
        return result;
    }
    set_error(error, "AttributeError", "'CharTokenizer' object has no attribute '%s'", method);
    return NULL;
}

static void tokenizer_repr(void *self, char *out, size_t size) {
    snprintf(out, size, "CharTokenizer(%zu characters)", ((Tokenizer *)self)->n);
}
static void tokenizer_retain(void *self) { ((Tokenizer *)self)->refs++; }
static void tokenizer_release(void *self) {
    if (--((Tokenizer *)self)->refs <= 0) tokenizer_free(self);
}

static const Class TOKENIZER_CLASS = {"CharTokenizer", TOKENIZER_METHODS, tokenizer_get, NULL, tokenizer_call, NULL,
                                      NULL, NULL, tokenizer_repr, tokenizer_retain, tokenizer_release};

/* ================================================================== Adam */
static const char *const ADAM_METHODS[] = {"step", NULL};

static Json *optimizer_get(void *self, const char *name, Error *error) {
    Adam *adam = self;
    if (strcmp(name, "m") == 0) return json_doubles(adam->m, adam->n);
    if (strcmp(name, "v") == 0) return json_doubles(adam->v, adam->n);
    if (strcmp(name, "params") == 0) {
        Json *list = json_array();
        for (size_t i = 0; i < adam->n; i++) json_append(list, value_ref(adam->params[i]));
        return list;
    }
    set_error(error, "AttributeError", "'Adam' object has no attribute '%s'", name);
    return NULL;
}

static Json *optimizer_call(void *self, const char *method, const Args *args, Error *error) {
    const char *const names[] = {"step", "num_steps", NULL};
    const Json *arg[2];
    int step, num_steps;
    if (strcmp(method, "step") != 0) {
        set_error(error, "AttributeError", "'Adam' object has no attribute '%s'", method);
        return NULL;
    }
    if (!bind_args(args, "step", names, 2, arg, error) || !as_int(arg[0], "step", &step, error) ||
        !as_int(arg[1], "num_steps", &num_steps, error))
        return NULL;
    return adam_step(self, step, num_steps, error) ? json_null() : NULL;
}

static void optimizer_repr(void *self, char *out, size_t size) { snprintf(out, size, "Adam(%zu parameters)", ((Adam *)self)->n); }
static void optimizer_retain(void *self) { ((Adam *)self)->refs++; }
static void optimizer_release(void *self) {
    if (--((Adam *)self)->refs <= 0) adam_free(self);
}

static const Class ADAM_CLASS = {"Adam", ADAM_METHODS, optimizer_get, NULL, optimizer_call, NULL, NULL, NULL,
                                 optimizer_repr, optimizer_retain, optimizer_release};

static int as_hyper(const Json *j, AdamHyper *h, Error *error) {
    *h = (AdamHyper){0.01, 0.85, 0.99, 1e-8};
    if (!j || j->kind == JSON_NULL) return 1;
    if (j->kind != JSON_OBJECT) return set_error(error, "TypeError", "hyper must be an AdamHyper");
    return as_number(json_get(j, "lr"), "lr", &h->lr, error) &&
           as_number(json_get(j, "beta1"), "beta1", &h->beta1, error) &&
           as_number(json_get(j, "beta2"), "beta2", &h->beta2, error) &&
           as_number(json_get(j, "eps"), "eps", &h->eps, error);
}

/* ================================================================== the contract's methods */
#define BIND(...)                                                                                   \
    const char *const names[] = {__VA_ARGS__, NULL};                                               \
    const Json *arg[sizeof names / sizeof *names];                                                 \
    if (!bind_args(args, method, names, required, arg, error)) return NULL

static Json *do_build_tokenizer(const char *method, const Args *args, int required, Error *error) {
    BIND("docs");
    const Json *docs = arg[0];
    if (docs->kind != JSON_ARRAY) { set_error(error, "TypeError", "docs must be a list of strings"); return NULL; }
    const char **texts = malloc((docs->length + 1) * sizeof *texts);
    size_t *lengths = malloc((docs->length + 1) * sizeof *lengths);
    for (size_t i = 0; i < docs->length; i++) {
        if (docs->items[i]->kind != JSON_STRING) {
            free(texts); free(lengths);
            set_error(error, "TypeError", "docs must be a list of strings");
            return NULL;
        }
        texts[i] = docs->items[i]->string;
        lengths[i] = docs->items[i]->length;
    }
    Tokenizer *tok = tokenizer_build(texts, lengths, docs->length, error);
    free(texts);
    free(lengths);
    return tok ? json_ref(&TOKENIZER_CLASS, tok) : NULL;
}

static Json *do_value(const char *method, const Args *args, int required, Error *error) {
    BIND("data");
    double x;
    if (!as_number(arg[0], "data", &x, error)) return NULL;
    return value_ref(value_new(x, error));
}

/* y = W x for a W given row by row */
static Json *apply_linear(const double *x, int n, const double *w, int rows, int cols, Error *error) {
    if (cols != n && rows) { set_error(error, "ValueError", "linear: rows of %d weights for %d inputs", cols, n); return NULL; }
    double *wt = malloc(((size_t)rows * cols + 1) * sizeof *wt), *y = malloc(((size_t)rows + 1) * sizeof *y);
    for (int o = 0; o < rows; o++)
        for (int i = 0; i < cols; i++) wt[(size_t)i * rows + o] = w[(size_t)o * cols + i];
    linear_t(x, wt, cols, rows, y);
    Json *result = json_doubles(y, (size_t)rows);
    free(wt);
    free(y);
    return result;
}

static Json *do_linear(const char *method, const Args *args, int required, Error *error) {
    BIND("x", "w");
    int n, rows, cols;
    double *x = as_vector(arg[0], "x", &n, error), *w = x ? as_matrix(arg[1], "w", &rows, &cols, error) : NULL;
    Json *result = w ? apply_linear(x, n, w, rows, cols, error) : NULL;
    free(x);
    free(w);
    return result;
}

static Json *do_softmax(const char *method, const Args *args, int required, Error *error) {
    BIND("logits");
    int n;
    double *z = as_vector(arg[0], "logits", &n, error);
    if (!z) return NULL;
    Json *result = NULL;
    if (n == 0) set_error(error, "ValueError", "max() arg is an empty sequence");
    else {
        double p[n];
        softmax(z, n, p);
        result = json_doubles(p, (size_t)n);
    }
    free(z);
    return result;
}

static Json *do_rmsnorm(const char *method, const Args *args, int required, Error *error) {
    BIND("x");
    int n;
    double *x = as_vector(arg[0], "x", &n, error);
    if (!x) return NULL;
    Json *result = NULL;
    if (n == 0) set_error(error, "ZeroDivisionError", "division by zero");
    else {
        double y[n];
        rmsnorm(x, n, y);
        result = json_doubles(y, (size_t)n);
    }
    free(x);
    return result;
}

static Json *do_attention(const char *method, const Args *args, int required, Error *error) {
    BIND("q", "keys", "values", "n_head");
    int E, T, Tv, kc, vc, n_head;
    double *q = as_vector(arg[0], "q", &E, error);
    double *keys = q ? as_matrix(arg[1], "keys", &T, &kc, error) : NULL;
    double *values = keys ? as_matrix(arg[2], "values", &Tv, &vc, error) : NULL;
    Json *result = NULL;
    if (values && as_int(arg[3], "n_head", &n_head, error)) {
        if (n_head < 1 || T < 1 || Tv != T || kc < E || vc < E)
            set_error(error, "ValueError", "attention: need n_head >= 1 and as many keys as values, at least one");
        else {
            int width = (E / n_head) * n_head;
            double out[width > 0 ? width : 1];
            attention(q, keys, values, T, kc, width, n_head, out, NULL);
            result = json_doubles(out, (size_t)width);
        }
    }
    free(q);
    free(keys);
    free(values);
    return result;
}

static Json *do_mlp(const char *method, const Args *args, int required, Error *error) {
    BIND("x", "fc1", "fc2");
    int n, r1, c1, r2, c2;
    double *x = as_vector(arg[0], "x", &n, error);
    double *fc1 = x ? as_matrix(arg[1], "fc1", &r1, &c1, error) : NULL;
    double *fc2 = fc1 ? as_matrix(arg[2], "fc2", &r2, &c2, error) : NULL;
    Json *result = NULL, *hidden = fc2 ? apply_linear(x, n, fc1, r1, c1, error) : NULL;
    if (hidden) { /* linear(relu(linear(x, fc1)), fc2) */
        double h[r1 > 0 ? r1 : 1];
        for (int j = 0; j < r1; j++) h[j] = hidden->items[j]->number > 0 ? hidden->items[j]->number : 0.0;
        result = apply_linear(h, r1, fc2, r2, c2, error);
    }
    json_free(hidden);
    free(x);
    free(fc1);
    free(fc2);
    return result;
}

/* gpt: the cache arrives as lists (one per layer) of this backend's earlier entries, here
 * plain lists of numbers; the reply's "kv" says what this call appended. */
static Json *do_gpt(const char *method, const Args *args, int required, Error *error) {
    BIND("params", "config", "token", "pos", "keys", "values");
    Model m;
    int token, pos;
    if (!load_model(arg[0], arg[1], &m, error)) return NULL;
    const Config *c = &m.config;
    Json *result = NULL;
    Cache cache = {0};
    const Json *keys = arg[4], *values = arg[5];
    if (!as_int(arg[2], "token", &token, error) || !as_int(arg[3], "pos", &pos, error)) goto done;
    if (token < 0 || token >= c->vocab_size || pos < 0 || pos >= c->block_size) {
        set_error(error, "IndexError", "list index out of range (token %d, pos %d)", token, pos);
        goto done;
    }
    if (keys->kind != JSON_ARRAY || values->kind != JSON_ARRAY || (int)keys->length < c->n_layer ||
        (int)values->length < c->n_layer) {
        set_error(error, "IndexError", "keys and values need one list per layer");
        goto done;
    }
    int length = keys->items[0]->kind == JSON_ARRAY ? (int)keys->items[0]->length : -1;
    for (int l = 0; l < c->n_layer; l++)
        if (keys->items[l]->kind != JSON_ARRAY || values->items[l]->kind != JSON_ARRAY ||
            (int)keys->items[l]->length != length || (int)values->items[l]->length != length) {
            set_error(error, "ValueError", "every layer's keys and values must hold the same number of positions");
            goto done;
        }
    if (!cache_init(&cache, c, length + 1, error)) goto done;
    for (int l = 0; l < c->n_layer; l++)
        for (int t = 0; t < length; t++) {
            const Json *k = keys->items[l]->items[t], *v = values->items[l]->items[t];
            if (k->kind != JSON_ARRAY || v->kind != JSON_ARRAY || (int)k->length != c->n_embd || (int)v->length != c->n_embd) {
                set_error(error, "ValueError", "a cached key or value of the wrong size");
                goto done;
            }
            for (int i = 0; i < c->n_embd; i++) {
                cache_key(&cache, l, t)[i] = k->items[i]->number;
                cache_value(&cache, l, t)[i] = v->items[i]->number;
            }
        }
    cache.length = length;
    double *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    gpt(&m, token, pos, &cache, logits, NULL);
    Json *new_keys = json_array(), *new_values = json_array();
    for (int l = 0; l < c->n_layer; l++) {
        json_append(new_keys, json_append(json_array(), json_doubles(cache_key(&cache, l, length), (size_t)c->n_embd)));
        json_append(new_values, json_append(json_array(), json_doubles(cache_value(&cache, l, length), (size_t)c->n_embd)));
    }
    protocol_reply_field("kv", json_set(json_set(json_object(), "keys", new_keys), "values", new_values));
    result = json_doubles(logits, (size_t)c->vocab_size);
    free(logits);
done:
    cache_free(&cache);
    model_free(&m);
    return result;
}

static Json *do_cross_entropy(const char *method, const Args *args, int required, Error *error) {
    BIND("logits", "targets");
    int rows, V;
    double *logits = as_matrix(arg[0], "logits", &rows, &V, error);
    if (!logits) return NULL;
    const Json *targets = arg[1];
    Json *result = NULL;
    if (targets->kind != JSON_ARRAY || (int)targets->length != rows || rows == 0) {
        set_error(error, "ValueError", "cross_entropy: need one target per row of logits (and at least one), got %d rows and %zu targets",
                  rows, targets->kind == JSON_ARRAY ? targets->length : 0);
        free(logits);
        return NULL;
    }
    double *grads = malloc((size_t)rows * V * sizeof *grads), total = 0.0, inverse_n = 1.0 / rows;
    int ok = 1;
    for (int t = 0; t < rows && ok; t++) {
        int target;
        ok = as_int(targets->items[t], "a target", &target, error);
        if (ok && (target < 0 || target >= V)) ok = set_error(error, "IndexError", "list index out of range");
        if (!ok) break;
        double *p = grads + (size_t)t * V;
        total += token_loss(logits + (size_t)t * V, V, target, p);
        for (int i = 0; i < V; i++) p[i] = (p[i] - (i == target)) * inverse_n; /* (softmax - onehot) / n */
    }
    if (ok) result = tuple(json_append(json_append(json_array(), json_number(total * inverse_n)), matrix_json(grads, rows, V)));
    free(grads);
    free(logits);
    return result;
}

static int *as_tokens(const Json *j, int *n, Error *error) {
    if (!j || j->kind != JSON_ARRAY) { set_error(error, "TypeError", "tokens must be a list of ints"); return NULL; }
    int *tokens = malloc((j->length + 1) * sizeof *tokens);
    for (size_t i = 0; i < j->length; i++)
        if (!as_int(j->items[i], "a token", &tokens[i], error)) { free(tokens); return NULL; }
    *n = (int)j->length;
    return tokens;
}

static Json *do_loss_and_grads(const char *method, const Args *args, int required, Error *error) {
    BIND("params", "config", "tokens");
    Model m;
    int n;
    if (!load_model(arg[0], arg[1], &m, error)) return NULL;
    int *tokens = as_tokens(arg[2], &n, error);
    Workspace ws;
    Json *result = NULL;
    double *grads = calloc(m.n_params, sizeof *grads), loss;
    if (tokens && workspace_init(&ws, &m.config, error)) {
        if (sequence_loss(&m, tokens, n, 1.0, grads, &ws, &loss, error))
            result = tuple(json_append(json_append(json_array(), json_number(loss)), params_json(&m.config, grads)));
        workspace_free(&ws);
    }
    free(grads);
    free(tokens);
    model_free(&m);
    return result;
}

static Json *do_adam(const char *method, const Args *args, int required, Error *error) {
    BIND("params", "hyper");
    AdamHyper hyper;
    if (!as_hyper(arg[1], &hyper, error)) return NULL;
    const Json *nodes = arg[0];
    if (nodes->kind != JSON_ARRAY) { set_error(error, "TypeError", "params must be a list of nodes"); return NULL; }
    Value **values = malloc((nodes->length + 1) * sizeof *values);
    for (size_t i = 0; i < nodes->length; i++) {
        if (nodes->items[i]->kind != JSON_OBJECTREF || nodes->items[i]->ref_class != &VALUE_CLASS) {
            free(values);
            set_error(error, "TypeError", "adam() takes this backend's nodes");
            return NULL;
        }
        values[i] = nodes->items[i]->ref;
    }
    Adam *adam = adam_new(values, nodes->length, &hyper, error);
    free(values);
    return adam ? json_ref(&ADAM_CLASS, adam) : NULL;
}

static Json *do_sample_next(const char *method, const Args *args, int required, Error *error) {
    BIND("logits", "temperature", "rng");
    int n, token;
    double temperature, *logits = as_vector(arg[0], "logits", &n, error);
    Json *result = NULL;
    if (logits && as_number(arg[1], "temperature", &temperature, error) &&
        sample_next(logits, n, temperature, arg[2], &token, error))
        result = json_int(token);
    free(logits);
    return result;
}

static Json *do_generate(const char *method, const Args *args, int required, Error *error) {
    BIND("params", "config", "temperature", "rng");
    Model m;
    double temperature;
    if (!load_model(arg[0], arg[1], &m, error)) return NULL;
    Json *result = NULL;
    int ids[m.config.block_size];
    if (as_number(arg[2], "temperature", &temperature, error)) {
        int n = generate(&m, temperature, arg[3], ids, error);
        if (n >= 0) {
            result = json_array();
            for (int i = 0; i < n; i++) json_append(result, json_int(ids[i]));
        }
    }
    model_free(&m);
    return result;
}

static Json *do_init_params(const char *method, const Args *args, int required, Error *error) {
    BIND("config", "rng");
    Config c;
    if (!as_config(arg[0], &c, error)) return NULL;
    double *flat = malloc(num_params(&c) * sizeof *flat);
    Json *result = init_params(&c, arg[1], flat, error) ? params_json(&c, flat) : NULL;
    free(flat);
    return result;
}

static Json *do_train(const char *method, const Args *args, int required, Error *error) {
    BIND("params", "config", "sequences", "schedule", "hyper", "moments", "on_step");
    Model m;
    if (!load_model(arg[0], arg[1], &m, error)) return NULL;
    Json *result = NULL;
    const Json *seqs = arg[2], *sched = arg[3], *moments = arg[5], *on_step = arg[6];
    Schedule s;
    AdamHyper hyper;
    double *mm = calloc(m.n_params, sizeof *mm), *vv = calloc(m.n_params, sizeof *vv), *losses = NULL;
    int **tokens = NULL, *lengths = NULL, count = 0;
    if (sched->kind != JSON_OBJECT || !as_int(json_get(sched, "num_steps"), "num_steps", &s.num_steps, error) ||
        !as_int(json_get(sched, "start_step"), "start_step", &s.start_step, error) ||
        !as_int(json_get(sched, "batch_size"), "batch_size", &s.batch_size, error) || !as_hyper(arg[4], &hyper, error))
        goto done;
    const Json *stop = json_get(sched, "stop_step");
    if (!stop || stop->kind == JSON_NULL) s.stop = s.num_steps;
    else if (!as_int(stop, "stop_step", &s.stop, error)) goto done;
    if (s.num_steps < 1 || s.batch_size < 1 || s.start_step < 0 || s.start_step > s.stop || s.stop > s.num_steps) {
        set_error(error, "ValueError", "Schedule needs 0 <= start_step <= stop_step <= num_steps");
        goto done;
    }
    if (moments && moments->kind == JSON_OBJECT &&
        (!as_params(json_get(moments, "m"), &m.config, mm, error) || !as_params(json_get(moments, "v"), &m.config, vv, error)))
        goto done;
    if (seqs->kind != JSON_ARRAY) { set_error(error, "TypeError", "sequences must be a list"); goto done; }
    count = (int)seqs->length;
    tokens = calloc((size_t)count + 1, sizeof *tokens);
    lengths = calloc((size_t)count + 1, sizeof *lengths);
    for (int i = 0; i < count; i++)
        if (!(tokens[i] = as_tokens(seqs->items[i], &lengths[i], error))) goto done;
    losses = calloc((size_t)(s.stop - s.start_step) + 1, sizeof *losses);
    Sequences data = {(const int *const *)tokens, lengths, count};
    if (!train(&m, &data, &s, &hyper, mm, vv, on_step && on_step->kind == JSON_CALLBACK ? on_step : NULL, losses, error))
        goto done;
    Json *fields = json_object();
    json_set(fields, "params", params_json(&m.config, m.params));
    json_set(fields, "m", params_json(&m.config, mm));
    json_set(fields, "v", params_json(&m.config, vv));
    json_set(fields, "losses", json_doubles(losses, (size_t)(s.stop - s.start_step)));
    json_set(fields, "next_step", json_int(s.stop));
    result = json_set(json_set(json_object(), "dc", json_string("TrainResult")), "f", fields);
done:
    for (int i = 0; tokens && i < count; i++) free(tokens[i]);
    free(tokens);
    free(lengths);
    free(losses);
    free(mm);
    free(vv);
    model_free(&m);
    return result;
}

/* ================================================================== the backend object */
typedef Json *(*Method)(const char *method, const Args *args, int required, Error *error);
static const struct {
    const char *name;
    Method run;
    int required; /* how many arguments must be given */
} METHODS[] = {
    {"build_tokenizer", do_build_tokenizer, 1}, {"value", do_value, 1}, {"linear", do_linear, 2},
    {"softmax", do_softmax, 1}, {"rmsnorm", do_rmsnorm, 1}, {"attention", do_attention, 4}, {"mlp", do_mlp, 3},
    {"gpt", do_gpt, 6}, {"cross_entropy", do_cross_entropy, 2}, {"loss_and_grads", do_loss_and_grads, 3},
    {"adam", do_adam, 1}, {"sample_next", do_sample_next, 3}, {"generate", do_generate, 4},
    {"init_params", do_init_params, 2}, {"train", do_train, 4},
};

static Json *backend_call(void *self, const char *method, const Args *args, Error *error) {
    (void)self;
    for (size_t i = 0; i < sizeof METHODS / sizeof *METHODS; i++)
        if (strcmp(METHODS[i].name, method) == 0) return METHODS[i].run(method, args, METHODS[i].required, error);
    set_error(error, "AttributeError", "'CBackend' object has no attribute '%s'", method);
    return NULL;
}

static Json *backend_get(void *self, const char *name, Error *error) {
    (void)self;
    if (strcmp(name, "name") == 0) return json_string(BACKEND_NAME);
    if (strcmp(name, "version") == 0) return json_string(BACKEND_VERSION);
    if (strcmp(name, "precision") == 0) return json_string("float64");
    set_error(error, "AttributeError", "'CBackend' object has no attribute '%s'", name);
    return NULL;
}

static void backend_repr(void *self, char *out, size_t size) { (void)self; snprintf(out, size, "CBackend()"); }

const Class BACKEND_CLASS = {"CBackend", BACKEND_METHODS, backend_get, NULL, backend_call, NULL, NULL, NULL,
                             backend_repr, NULL, NULL};
