/* engine.h: the scalar autograd engine, one `Value` per number (microgpt's heart).
 *
 * Every operation makes a new Value that remembers its inputs (children) and the local
 * derivative towards each, worked out in the forward pass. `value_backward` then applies
 * the chain rule from the output back to the leaves:  child.grad += local_grad * node.grad.
 *
 * Six operations are primitive: +, *, ** k (k a plain number), log, exp, relu. The others
 * are built from them exactly as the original does (-a = a * -1, a - b = a + (-b),
 * a / b = a * b ** -1), because that decides which nodes exist and how floats combine.
 *
 * Where Python raises (log(0), 0 ** -1, exp(1000)), these fail with the same Python
 * exception type, since the spec holds a backend to what the original program does.
 */
#ifndef MICROGPT_ENGINE_H
#define MICROGPT_ENGINE_H

#include "protocol.h"

typedef struct Value Value;
struct Value {
    double data;
    double grad;             /* d(root)/d(this node), filled by value_backward */
    Value *children[2];      /* the inputs it was computed from */
    double local_grads[2];   /* d(this)/d(child), for each child */
    int n_children;
    int refs;                /* holders: handles, parent nodes, optimizers */
    unsigned mark;           /* visited-marker of the topological sort */
};

Value *value_new(double data, Error *error); /* a leaf, grad 0 */

/* primitive operations: a new node, or NULL with `error` */
Value *value_add(Value *a, Value *b, Error *error);
Value *value_mul(Value *a, Value *b, Error *error);
Value *value_pow(Value *a, double k, Error *error);
Value *value_log(Value *a, Error *error);
Value *value_exp(Value *a, Error *error);
Value *value_relu(Value *a, Error *error);

/* derived operations, built from the primitive ones */
Value *value_neg(Value *a, Error *error);
Value *value_sub(Value *a, Value *b, Error *error);
Value *value_div(Value *a, Value *b, Error *error);

/* Fill .grad of every node `root` depends on; the order of a recursive depth-first
 * search, computed with an explicit stack (graphs may be far deeper than a C stack). */
int value_backward(Value *root, Error *error);

void value_retain(Value *v);
void value_release(Value *v); /* frees the node (and, in turn, its children) at zero */

/* Python's `base ** exponent` on floats: the same value, or its exception. */
int python_pow(double base, double exponent, double *out, Error *error);

#endif
