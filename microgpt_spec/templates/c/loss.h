/* loss.h: the training loss of a token sequence and its gradient for every weight.
 *
 * The forward pass is `gpt`, position after position; the backward pass is the chain
 * rule written out by hand for each layer, in reverse (no graph of Values: this is the
 * fast path that `train` runs thousands of times). The scalar engine (engine.c) would
 * give the same numbers, one node at a time.
 */
#ifndef MICROGPT_LOSS_H
#define MICROGPT_LOSS_H

#include "model.h"

/* Everything one sequence's forward and backward passes need, allocated once. */
typedef struct {
    Config config;
    Cache cache;
    Trace *traces;        /* one per position */
    double *logits;
    double *dK, *dV;      /* gradients of the cached keys and values, [layer][position][n_embd] */
} Workspace;

int workspace_init(Workspace *ws, const Config *c, Error *error);
void workspace_free(Workspace *ws);

/* Mean cross-entropy of predicting tokens[t+1] from tokens[..t], t < n =
 * min(block_size, n_tokens - 1). When `grads` is not NULL, adds `scale` times the
 * gradient of that loss to it (same flat layout as the parameters). Fails (ValueError,
 * IndexError) on a sequence too short or a token outside the vocabulary. */
int sequence_loss(const Model *m, const int *tokens, int n_tokens, double scale, double *grads, Workspace *ws,
                  double *loss, Error *error);

/* -log softmax(logits)[target]: the cross-entropy at one position. */
double token_loss(const double *logits, int vocab_size, int target, double *probs);

#endif
