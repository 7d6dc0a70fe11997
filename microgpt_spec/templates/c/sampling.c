/* sampling.c: drawing names from the model (the sampling area). Stubs: see sampling.h. */
#include "sampling.h"

int sample_next(const double *logits, int vocab_size, double temperature, const Json *rng, int *token, Error *error) {
    (void)logits; (void)vocab_size; (void)temperature; (void)rng; (void)token;
    return set_error(error, "NotImplementedError", "sampling: sample_next(logits, temperature, rng)");
}

int generate(const Model *m, double temperature, const Json *rng, int *ids, Error *error) {
    (void)m; (void)temperature; (void)rng; (void)ids;
    set_error(error, "NotImplementedError", "sampling: generate(params, config, temperature, rng)");
    return -1;
}
