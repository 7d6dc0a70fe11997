/* model.c: microgpt's layers and one position's forward pass (the layers area).
 *
 * The plumbing (parameter shapes, the cache, the trace) is written; the layers are stubs
 * that report "not implemented" until you write them (rules in model.h). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ layers */
/* y[o] = sum_i w[o][i] * x[i]. The loop over outputs o is the inner one: each y[o] still
 * adds its terms in the order i = 0, 1, ... (the original's floats), but consecutive
 * outputs are independent, so the compiler runs them side by side in vector registers. */
void linear_t(const double *x, const double *wt, int nin, int nout, double *y) {
    (void)x; (void)wt; (void)nin;
    for (int o = 0; o < nout; o++) y[o] = 0.0;
    not_implemented("layers: linear(x, w)");
}

/* p[i] = exp(z[i] - max z) / sum_j exp(z[j] - max z). Subtracting the max keeps exp from
 * overflowing; dividing is `* total ** -1`, as the original's Value division. */
void softmax(const double *z, int n, double *p) {
    (void)z;
    for (int i = 0; i < n; i++) p[i] = 0.0;
    not_implemented("layers: softmax(logits)");
}

/* y = x * (mean(x**2) + 1e-5) ** -0.5: rescale x to a root mean square of about 1. */
double rmsnorm(const double *x, int n, double *y) {
    (void)x;
    for (int i = 0; i < n; i++) y[i] = 0.0;
    not_implemented("layers: rmsnorm(x)");
    return 0.0;
}

/* Head h owns dims [h*d, (h+1)*d), d = n_embd / n_head:
 *     score[t] = q_h . k_h[t] / sqrt(d),   w = softmax(score),   out_h = sum_t w[t] * v_h[t] */
void attention(const double *q, const double *keys, const double *values, int T, int stride, int n_embd,
               int n_head, double *out, double *weights) {
    (void)q; (void)keys; (void)values; (void)T; (void)stride; (void)n_head; (void)weights;
    for (int i = 0; i < n_embd; i++) out[i] = 0.0;
    not_implemented("layers: attention(q, keys, values, n_head)");
}

/* ------------------------------------------------------------------ one position */
/* x = rmsnorm(wte[token] + wpe[pos]); per layer an attention block and an MLP block,
 * each added to the residual stream; logits = lm_head x (no final norm). */
void gpt(const Model *m, int token, int pos, Cache *cache, double *logits, Trace *trace) {
    (void)token; (void)pos; (void)trace;
    for (int i = 0; i < m->config.vocab_size; i++) logits[i] = 0.0;
    cache->length++;
    not_implemented("layers: gpt(params, config, token, pos, keys, values)");
}
