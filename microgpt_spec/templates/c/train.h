/* train.h: weight init and the training loop, all steps in one call. */
#ifndef MICROGPT_TRAIN_H
#define MICROGPT_TRAIN_H

#include "adam.h"
#include "model.h"

/* Every weight ~ N(0, 0.08^2), drawn by the host (`rng`) in the reference order, matrix
 * by matrix, row by row, into `flat` (num_params of them). */
int init_params(const Config *c, const Json *rng, double *flat, Error *error);

typedef struct {
    int num_steps, start_step, stop, batch_size;
} Schedule;

typedef struct {
    const int *const *tokens; /* the sequences */
    const int *lengths;
    int count;
} Sequences;

/* Steps schedule->start_step .. stop - 1 on m's parameters (changed in place) with
 * Adam's moments m_moment, v_moment (changed in place); losses[i] is step start + i's
 * loss. on_step (NULL: none) is the host's callback, called after each step. */
int train(Model *m, const Sequences *data, const Schedule *schedule, const AdamHyper *hyper, double *m_moment,
          double *v_moment, const Json *on_step, double *losses, Error *error);

#endif
