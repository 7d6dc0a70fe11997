/* train.c: init_params and the training loop (see train.h). */
#include "train.h"

#include <stdlib.h>
#include <string.h>

#include "loss.h"

#define INIT_STD 0.08

int init_params(const Config *c, const Json *rng, double *flat, Error *error) {
    return protocol_draw(rng, "gauss", num_params(c), 0.0, INIT_STD, flat, error);
}

/* One step's loss and gradient: one sequence (the reference), or the mean of B. */
static int batch_loss(const Model *m, const Sequences *data, int step, int B, double *grads, Workspace *ws,
                      double *loss, Error *error) {
    double inverse_b = 1.0 / B, total = 0.0;
    for (int b = 0; b < B; b++) {
        int which = (int)(((long long)step * B + b) % data->count); /* batch_for_step */
        double one;
        if (!sequence_loss(m, data->tokens[which], data->lengths[which], B == 1 ? 1.0 : inverse_b, grads, ws, &one,
                           error))
            return 0;
        total += one;
    }
    *loss = B == 1 ? total : total * inverse_b; /* the mean, (1/B) * sum */
    return 1;
}

int train(Model *m, const Sequences *data, const Schedule *s, const AdamHyper *hyper, double *m_moment,
          double *v_moment, const Json *on_step, double *losses, Error *error) {
    if (data->count < 1) return set_error(error, "ValueError", "train: no sequences to train on");
    Workspace ws;
    if (!workspace_init(&ws, &m->config, error)) return 0;
    double *grads = calloc(m->n_params, sizeof(double));
    if (!grads) { workspace_free(&ws); return set_error(error, "MemoryError", "gradients"); }
    int ok = 1;
    model_refresh(m);
    for (int step = s->start_step; ok && step < s->stop; step++) {
        double loss;
        ok = batch_loss(m, data, step, s->batch_size, grads, &ws, &loss, error) &&
             adam_update(m->params, grads, m_moment, v_moment, m->n_params, hyper, step, s->num_steps, error);
        if (!ok) break;
        model_refresh(m);
        losses[step - s->start_step] = loss;
        if (on_step) {
            Json *args = json_append(json_append(json_array(), json_int(step)), json_number(loss));
            ok = protocol_callback(on_step, args, error);
        }
    }
    free(grads);
    workspace_free(&ws);
    return ok;
}
