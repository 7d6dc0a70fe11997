/* sampling.h: drawing names from the model, one token at a time. */
#ifndef MICROGPT_SAMPLING_H
#define MICROGPT_SAMPLING_H

#include "model.h"

/* One token id drawn from softmax(logits / temperature) with one rng.random() asked of the
 * host (`rng`), by Python's rng.choices rule. 1, or 0 with `error`. */
int sample_next(const double *logits, int vocab_size, double temperature, const Json *rng, int *token, Error *error);

/* One name: from BOS with an empty cache, draw at positions 0, 1, ... < block_size, stop
 * at BOS. Writes the drawn ids (BOS left out) to `ids` (room for block_size); returns
 * their count, or -1 with `error`. */
int generate(const Model *m, double temperature, const Json *rng, int *ids, Error *error);

#endif
