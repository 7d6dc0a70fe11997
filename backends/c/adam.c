/* adam.c: the Adam update (see adam.h). */
#include "adam.h"

#include <math.h>
#include <stdlib.h>

int adam_update(double *p, double *g, double *m, double *v, size_t n, const AdamHyper *h, int step, int num_steps,
                Error *error) {
    if (num_steps == 0) return set_error(error, "ZeroDivisionError", "division by zero");
    const double lr_t = h->lr * (1 - (double)step / num_steps);
    /* the same for every parameter: computed once (the same floats as inside the loop) */
    const double m_correction = 1 - pow(h->beta1, step + 1), v_correction = 1 - pow(h->beta2, step + 1);
    const double b1 = h->beta1, b2 = h->beta2, one_minus_b1 = 1 - h->beta1, one_minus_b2 = 1 - h->beta2;
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + one_minus_b1 * g[i];
        v[i] = b2 * v[i] + one_minus_b2 * (g[i] * g[i]);
        double m_hat = m[i] / m_correction, v_hat = v[i] / v_correction;
        p[i] -= lr_t * m_hat / (sqrt(v_hat) + h->eps);
        g[i] = 0.0;
    }
    return 1;
}

Adam *adam_new(Value **params, size_t n, const AdamHyper *hyper, Error *error) {
    Adam *adam = calloc(1, sizeof *adam);
    if (adam) {
        adam->params = malloc((n ? n : 1) * sizeof *adam->params);
        adam->m = calloc(n ? n : 1, sizeof(double));
        adam->v = calloc(n ? n : 1, sizeof(double));
    }
    if (!adam || !adam->params || !adam->m || !adam->v) {
        adam_free(adam);
        set_error(error, "MemoryError", "adam");
        return NULL;
    }
    adam->n = n;
    adam->hyper = *hyper;
    for (size_t i = 0; i < n; i++) { adam->params[i] = params[i]; value_retain(params[i]); }
    return adam;
}

/* The rule above on the nodes' data and grad, through the same loop as training. */
int adam_step(Adam *adam, int step, int num_steps, Error *error) {
    size_t n = adam->n ? adam->n : 1;
    double *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    if (!p || !g) { free(p); free(g); return set_error(error, "MemoryError", "adam"); }
    for (size_t i = 0; i < adam->n; i++) { p[i] = adam->params[i]->data; g[i] = adam->params[i]->grad; }
    int ok = adam_update(p, g, adam->m, adam->v, adam->n, &adam->hyper, step, num_steps, error);
    if (ok)
        for (size_t i = 0; i < adam->n; i++) { adam->params[i]->data = p[i]; adam->params[i]->grad = g[i]; }
    free(p);
    free(g);
    return ok;
}

void adam_free(Adam *adam) {
    if (!adam) return;
    for (size_t i = 0; adam->params && i < adam->n; i++) value_release(adam->params[i]);
    free(adam->params);
    free(adam->m);
    free(adam->v);
    free(adam);
}
