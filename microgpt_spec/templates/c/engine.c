/* engine.c: the scalar Value engine. START HERE (the ops and autograd areas).
 *
 * Each function below is a stub: it reports "not implemented" until you write it. The
 * rules are in engine.h; backends/c/engine.c in microgpt-spec is a complete version. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>

static Value *todo(const char *what, Error *error) {
    set_error(error, "NotImplementedError", "%s", what);
    return NULL;
}

Value *value_new(double data, Error *error) { (void)data; return todo("ops: value(data)", error); }
void value_retain(Value *v) { v->refs++; }
void value_release(Value *v) { if (--v->refs <= 0) free(v); /* TODO: release the children too */ }

int python_pow(double base, double exponent, double *out, Error *error) {
    /* Python's float ** (0.0 ** -1 raises ZeroDivisionError, ...): see engine.h */
    (void)error;
    *out = pow(base, exponent);
    return 1;
}

Value *value_add(Value *a, Value *b, Error *error) { (void)a; (void)b; return todo("ops: a + b", error); }
Value *value_mul(Value *a, Value *b, Error *error) { (void)a; (void)b; return todo("ops: a * b", error); }
Value *value_pow(Value *a, double k, Error *error) { (void)a; (void)k; return todo("ops: a ** k", error); }
Value *value_log(Value *a, Error *error) { (void)a; return todo("ops: a.log()", error); }
Value *value_exp(Value *a, Error *error) { (void)a; return todo("ops: a.exp()", error); }
Value *value_relu(Value *a, Error *error) { (void)a; return todo("ops: a.relu()", error); }
Value *value_neg(Value *a, Error *error) { (void)a; return todo("ops: -a", error); }
Value *value_sub(Value *a, Value *b, Error *error) { (void)a; (void)b; return todo("ops: a - b", error); }
Value *value_div(Value *a, Value *b, Error *error) { (void)a; (void)b; return todo("ops: a / b", error); }

int value_backward(Value *root, Error *error) {
    (void)root;
    return set_error(error, "NotImplementedError", "autograd: backward()");
}
