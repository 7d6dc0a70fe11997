/* model.c: microgpt's layers and one position's forward pass (see model.h). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ layers */
/* y[o] = sum_i w[o][i] * x[i]. The loop over outputs o is the inner one: each y[o] still
 * adds its terms in the order i = 0, 1, ... (the original's floats), but consecutive
 * outputs are independent, so the compiler runs them side by side in vector registers. */
void linear_t(const double *x, const double *wt, int nin, int nout, double *y) {
    for (int o = 0; o < nout; o++) y[o] = 0.0;
    for (int i = 0; i < nin; i++) {
        const double xi = x[i], *row = wt + (size_t)i * (size_t)nout;
        for (int o = 0; o < nout; o++) y[o] += row[o] * xi;
    }
}

/* p[i] = exp(z[i] - max z) / sum_j exp(z[j] - max z). Subtracting the max keeps exp from
 * overflowing; dividing is `* total ** -1`, as the original's Value division. */
void softmax(const double *z, int n, double *p) {
    double max = z[0];
    for (int i = 1; i < n; i++) if (z[i] > max) max = z[i];
    double total = 0.0;
    for (int i = 0; i < n; i++) { p[i] = exp(z[i] - max); total += p[i]; }
    double inverse = pow(total, -1.0);
    for (int i = 0; i < n; i++) p[i] *= inverse;
}

/* y = x * (mean(x**2) + 1e-5) ** -0.5: rescale x to a root mean square of about 1. */
double rmsnorm(const double *x, int n, double *y) {
    double sum_squares = 0.0;
    for (int i = 0; i < n; i++) sum_squares += x[i] * x[i];
    double mean_square = sum_squares * pow((double)n, -1.0);
    double scale = pow(mean_square + 1e-5, -0.5);
    for (int i = 0; i < n; i++) y[i] = x[i] * scale;
    return scale;
}

/* Head h owns dims [h*d, (h+1)*d), d = n_embd / n_head:
 *     score[t] = q_h . k_h[t] / sqrt(d),   w = softmax(score),   out_h = sum_t w[t] * v_h[t] */
void attention(const double *q, const double *keys, const double *values, int T, int stride, int n_embd,
               int n_head, double *out, double *weights) {
    int d = n_embd / n_head;
    double inverse_sqrt_d = pow(pow((double)d, 0.5), -1.0);
    double scores[T > 0 ? T : 1], w[T > 0 ? T : 1];
    for (int h = 0; h < n_head; h++) {
        const double *q_h = q + h * d;
        for (int t = 0; t < T; t++) {
            const double *k_h = keys + (size_t)t * (size_t)stride + h * d;
            double dot = 0.0;
            for (int j = 0; j < d; j++) dot += q_h[j] * k_h[j];
            scores[t] = dot * inverse_sqrt_d;
        }
        softmax(scores, T, w);
        double *out_h = out + h * d;
        for (int j = 0; j < d; j++) out_h[j] = 0.0;
        for (int t = 0; t < T; t++) {
            const double *v_h = values + (size_t)t * (size_t)stride + h * d;
            for (int j = 0; j < d; j++) out_h[j] += w[t] * v_h[j];
        }
        if (weights) memcpy(weights + (size_t)h * (size_t)T, w, (size_t)T * sizeof(double));
    }
}

/* ------------------------------------------------------------------ one position */
/* x = rmsnorm(wte[token] + wpe[pos]); per layer an attention block and an MLP block,
 * each added to the residual stream; logits = lm_head x (no final norm). */
void gpt(const Model *m, int token, int pos, Cache *cache, double *logits, Trace *trace) {
    const Config *c = &m->config;
    const int E = c->n_embd, H = 4 * c->n_embd;
    double x[E], x0[E], xn[E], q[E], heads[E], projected[E], hidden[H];
    const double *wte = m->w.wte + (size_t)token * E, *wpe = m->w.wpe + (size_t)pos * E;
    for (int i = 0; i < E; i++) x0[i] = wte[i] + wpe[i];
    double s0 = rmsnorm(x0, E, x);
    if (trace) { memcpy(trace->x0, x0, sizeof x0); trace->s0 = s0; }
    int t = cache->length; /* this position's row in the cache */
    for (int l = 0; l < c->n_layer; l++) {
        const LayerWeights *wt = &m->wt.layer[l];
        /* attention block: x + attn_wo(attention(q, keys, values)) with q, k, v of rmsnorm(x) */
        double s1 = rmsnorm(x, E, xn);
        double *k = cache_key(cache, l, t), *v = cache_value(cache, l, t);
        linear_t(xn, wt->attn_wq, E, E, q);
        linear_t(xn, wt->attn_wk, E, E, k);
        linear_t(xn, wt->attn_wv, E, E, v);
        double *weights = trace ? trace->attn + (size_t)l * c->n_head * c->block_size : NULL;
        attention(q, cache_key(cache, l, 0), cache_value(cache, l, 0), t + 1, E, E, c->n_head, heads, weights);
        linear_t(heads, wt->attn_wo, E, E, projected);
        if (trace) {
            memcpy(trace->x_in + l * E, x, sizeof x);
            trace->s1[l] = s1;
            memcpy(trace->xn1 + l * E, xn, sizeof xn);
            memcpy(trace->q + l * E, q, sizeof q);
            memcpy(trace->heads + l * E, heads, sizeof heads);
        }
        for (int i = 0; i < E; i++) x[i] = projected[i] + x[i];
        /* MLP block: x + fc2(relu(fc1(rmsnorm(x)))) */
        double s2 = rmsnorm(x, E, xn);
        linear_t(xn, wt->mlp_fc1, E, H, hidden);
        if (trace) {
            memcpy(trace->x_mid + l * E, x, sizeof x);
            trace->s2[l] = s2;
            memcpy(trace->xn2 + l * E, xn, sizeof xn);
            memcpy(trace->h1 + l * H, hidden, sizeof hidden);
        }
        for (int j = 0; j < H; j++) hidden[j] = hidden[j] > 0 ? hidden[j] : 0.0; /* relu */
        linear_t(hidden, wt->mlp_fc2, H, E, projected);
        for (int i = 0; i < E; i++) x[i] = projected[i] + x[i];
    }
    if (trace) memcpy(trace->x_out, x, sizeof x);
    linear_t(x, m->wt.lm_head, E, c->vocab_size, logits);
    cache->length = t + 1;
}
