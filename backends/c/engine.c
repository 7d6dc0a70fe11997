/* engine.c: the scalar Value engine and its backward pass (see engine.h). */
#include "engine.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ nodes */
static Value *node(double data, Value *a, double da, Value *b, double db, Error *error) {
    Value *v = calloc(1, sizeof *v);
    if (!v) { set_error(error, "MemoryError", "out of memory for a Value"); return NULL; }
    v->data = data;
    if (a) { v->children[v->n_children] = a; v->local_grads[v->n_children++] = da; value_retain(a); }
    if (b) { v->children[v->n_children] = b; v->local_grads[v->n_children++] = db; value_retain(b); }
    return v;
}

Value *value_new(double data, Error *error) { return node(data, NULL, 0, NULL, 0, error); }

void value_retain(Value *v) { v->refs++; }

/* Release without recursion: a chain of a million nodes must not overflow the C stack. */
void value_release(Value *v) {
    size_t n = 0, capacity = 64;
    Value **stack = malloc(capacity * sizeof *stack);
    if (!stack) return;
    stack[n++] = v;
    while (n) {
        Value *top = stack[--n];
        if (--top->refs > 0) continue;
        for (int i = 0; i < top->n_children; i++) {
            if (n == capacity) {
                Value **more = realloc(stack, 2 * capacity * sizeof *stack);
                if (!more) break;
                stack = more;
                capacity *= 2;
            }
            stack[n++] = top->children[i];
        }
        free(top);
    }
    free(stack);
}

/* ------------------------------------------------------------------ Python's float rules */
int python_pow(double base, double exponent, double *out, Error *error) {
    if (base == 0.0 && exponent < 0.0)
        return set_error(error, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
    if (base < 0.0 && isfinite(base) && isfinite(exponent) && exponent != floor(exponent))
        return set_error(error, "ValueError", "negative number cannot be raised to a fractional power");
    *out = pow(base, exponent);
    if (isinf(*out) && isfinite(base) && isfinite(exponent))
        return set_error(error, "OverflowError", "(34, 'Numerical result out of range')");
    return 1;
}

/* ------------------------------------------------------------------ primitive operations */
/* c = a + b;   dc/da = 1,  dc/db = 1 */
Value *value_add(Value *a, Value *b, Error *error) { return node(a->data + b->data, a, 1.0, b, 1.0, error); }

/* c = a * b;   dc/da = b,  dc/db = a */
Value *value_mul(Value *a, Value *b, Error *error) {
    return node(a->data * b->data, a, b->data, b, a->data, error);
}

/* c = a ** k (k a plain number);   dc/da = k * a ** (k - 1) */
Value *value_pow(Value *a, double k, Error *error) {
    double c, a_to_k_minus_1;
    if (!python_pow(a->data, k, &c, error) || !python_pow(a->data, k - 1, &a_to_k_minus_1, error)) return NULL;
    return node(c, a, k * a_to_k_minus_1, NULL, 0, error);
}

/* c = ln a;   dc/da = 1 / a */
Value *value_log(Value *a, Error *error) {
    if (a->data <= 0.0) { set_error(error, "ValueError", "math domain error"); return NULL; }
    return node(log(a->data), a, 1.0 / a->data, NULL, 0, error);
}

/* c = e ** a;   dc/da = e ** a (the result itself) */
Value *value_exp(Value *a, Error *error) {
    double e = exp(a->data);
    if (isinf(e) && isfinite(a->data)) { set_error(error, "OverflowError", "math range error"); return NULL; }
    return node(e, a, e, NULL, 0, error);
}

/* c = max(0, a);   dc/da = 1 if a > 0 else 0 (0 at exactly 0) */
Value *value_relu(Value *a, Error *error) {
    int positive = a->data > 0;
    return node(positive ? a->data : 0.0, a, positive ? 1.0 : 0.0, NULL, 0, error);
}

/* ------------------------------------------------------------------ derived operations */
/* A plain number as a constant leaf, dropped again if the operation fails. */
static Value *constant(double x, Error *error) { return value_new(x, error); }

static Value *drop_if_unused(Value *temporary, Value *result) {
    /* `temporary` was made for `result` only: if result holds it, it lives on; else free it. */
    value_retain(temporary);
    value_release(temporary);
    return result;
}

/* -a = a * -1 */
Value *value_neg(Value *a, Error *error) {
    Value *minus_one = constant(-1.0, error);
    if (!minus_one) return NULL;
    return drop_if_unused(minus_one, value_mul(a, minus_one, error));
}

/* a - b = a + (-b) */
Value *value_sub(Value *a, Value *b, Error *error) {
    Value *minus_b = value_neg(b, error);
    if (!minus_b) return NULL;
    return drop_if_unused(minus_b, value_add(a, minus_b, error));
}

/* a / b = a * b ** -1 */
Value *value_div(Value *a, Value *b, Error *error) {
    Value *inverse = value_pow(b, -1.0, error);
    if (!inverse) return NULL;
    return drop_if_unused(inverse, value_mul(a, inverse, error));
}

/* ------------------------------------------------------------------ backward */
typedef struct {
    Value *node;
    int next_child; /* the children before this one are done */
} Frame;

/* Every node `root` depends on, each once, each after all of its children: the order a
 * recursive depth-first search gives (children left to right, then the node), with an
 * explicit stack. Returns the count; *order is malloc'ed. */
static size_t topological_order(Value *root, Value ***order, Error *error) {
    static unsigned epoch = 0;
    epoch++;
    size_t n = 0, capacity = 1024, depth = 0, stack_capacity = 256;
    Value **list = malloc(capacity * sizeof *list);
    Frame *stack = malloc(stack_capacity * sizeof *stack);
    if (!list || !stack) { free(list); free(stack); set_error(error, "MemoryError", "backward"); return 0; }
    root->mark = epoch;
    stack[depth++] = (Frame){root, 0};
    while (depth) {
        Frame *top = &stack[depth - 1];
        Value *descend = NULL;
        while (top->next_child < top->node->n_children) {
            Value *child = top->node->children[top->next_child++];
            if (child->mark == epoch) continue;
            child->mark = epoch;
            if (child->n_children) { descend = child; break; } /* its children first */
            if (n == capacity) list = realloc(list, (capacity *= 2) * sizeof *list);
            list[n++] = child; /* a leaf: nothing below it */
        }
        if (descend) {
            if (depth == stack_capacity) stack = realloc(stack, (stack_capacity *= 2) * sizeof *stack);
            stack[depth++] = (Frame){descend, 0};
            continue;
        }
        if (n == capacity) list = realloc(list, (capacity *= 2) * sizeof *list);
        list[n++] = top->node; /* every child done: the node itself */
        depth--;
    }
    free(stack);
    *order = list;
    return n;
}

int value_backward(Value *root, Error *error) {
    Value **order;
    size_t n = topological_order(root, &order, error);
    if (!n) return 0;
    root->grad = 1.0;
    for (size_t i = n; i-- > 0;) { /* from the root down: each node has all its grad */
        Value *v = order[i];
        for (int c = 0; c < v->n_children; c++) v->children[c]->grad += v->local_grads[c] * v->grad;
    }
    free(order);
    return 1;
}
