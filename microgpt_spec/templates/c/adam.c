/* adam.c: the Adam update (the adam area). Stubs: the rule is in adam.h. */
#include "adam.h"

#include <stdlib.h>

int adam_update(double *p, double *g, double *m, double *v, size_t n, const AdamHyper *hyper, int step,
                int num_steps, Error *error) {
    (void)p; (void)g; (void)m; (void)v; (void)n; (void)hyper; (void)step; (void)num_steps;
    return set_error(error, "NotImplementedError", "adam: step(step, num_steps)");
}

Adam *adam_new(Value **params, size_t n, const AdamHyper *hyper, Error *error) {
    (void)params; (void)n; (void)hyper;
    set_error(error, "NotImplementedError", "adam: adam(params, hyper)");
    return NULL;
}

int adam_step(Adam *adam, int step, int num_steps, Error *error) {
    (void)adam; (void)step; (void)num_steps;
    return set_error(error, "NotImplementedError", "adam: step(step, num_steps)");
}

void adam_free(Adam *adam) { free(adam); }
