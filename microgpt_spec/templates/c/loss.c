/* loss.c: the loss of a sequence and its gradient (the loss area). Stubs: see loss.h. */
#include "loss.h"

#include <stdlib.h>
#include <string.h>

int workspace_init(Workspace *ws, const Config *c, Error *error) {
    memset(ws, 0, sizeof *ws);
    ws->config = *c;
    return cache_init(&ws->cache, c, c->block_size, error);
}

void workspace_free(Workspace *ws) { cache_free(&ws->cache); }

double token_loss(const double *logits, int vocab_size, int target, double *probs) {
    (void)logits; (void)target;
    for (int i = 0; i < vocab_size; i++) probs[i] = 0.0;
    not_implemented("loss: cross_entropy(logits, targets)");
    return 0.0;
}

int sequence_loss(const Model *m, const int *tokens, int n_tokens, double scale, double *grads, Workspace *ws,
                  double *loss, Error *error) {
    (void)m; (void)tokens; (void)n_tokens; (void)scale; (void)grads; (void)ws; (void)loss;
    return set_error(error, "NotImplementedError", "loss: loss_and_grads(params, config, tokens)");
}
