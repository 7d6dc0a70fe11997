/* adam.h: Adam, the optimizer that moves every weight after each step's backward pass.
 *
 * At 0-based step s of num_steps, for each parameter p with gradient g:
 *     lr_t  = lr * (1 - s / num_steps)          (linear decay to 0)
 *     m     = beta1 * m + (1 - beta1) * g       (running mean of g)
 *     v     = beta2 * v + (1 - beta2) * g**2    (running mean of g^2)
 *     m_hat = m / (1 - beta1 ** (s + 1))        (undo the bias towards the zero start)
 *     v_hat = v / (1 - beta2 ** (s + 1))
 *     p    -= lr_t * m_hat / (v_hat ** 0.5 + eps)
 *     g     = 0
 */
#ifndef MICROGPT_ADAM_H
#define MICROGPT_ADAM_H

#include <stddef.h>

#include "engine.h"

typedef struct {
    double lr, beta1, beta2, eps;
} AdamHyper;

/* One update of n parameters held in flat arrays (the training loop's form). */
int adam_update(double *p, double *g, double *m, double *v, size_t n, const AdamHyper *hyper, int step,
                int num_steps, Error *error);

/* The optimizer over the engine's Values (the contract's `adam(nodes, hyper)`). */
typedef struct {
    Value **params;
    double *m, *v;
    size_t n;
    AdamHyper hyper;
    int refs;
} Adam;

Adam *adam_new(Value **params, size_t n, const AdamHyper *hyper, Error *error);
int adam_step(Adam *adam, int step, int num_steps, Error *error);
void adam_free(Adam *adam);

#endif
