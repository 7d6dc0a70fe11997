/* train.c: weight init and the training loop (the training area). Stubs: see train.h. */
#include "train.h"

int init_params(const Config *c, const Json *rng, double *flat, Error *error) {
    (void)c; (void)rng; (void)flat;
    return set_error(error, "NotImplementedError", "training: init_params(config, rng)");
}

int train(Model *m, const Sequences *data, const Schedule *schedule, const AdamHyper *hyper, double *m_moment,
          double *v_moment, const Json *on_step, double *losses, Error *error) {
    (void)m; (void)data; (void)schedule; (void)hyper; (void)m_moment; (void)v_moment; (void)on_step; (void)losses;
    return set_error(error, "NotImplementedError", "training: train(params, config, sequences, schedule, ...)");
}
