/* model.h: the GPT of microgpt on plain doubles: its layers, and one position's forward
 * pass (`gpt`), in the original's shape.
 *
 * The weights live in one flat array, matrix after matrix in the reference order
 * (wte, wpe, lm_head, then per layer attn_wq, attn_wk, attn_wv, attn_wo, mlp_fc1,
 * mlp_fc2), each row by row: `w[o * nin + i]` is the weight from input i to output o.
 * That one layout serves the parameters, their gradients and Adam's moments.
 *
 * Every sum adds its terms left to right, starting from 0, and every division is written
 * the original's way (x / y is x * y ** -1, with libm's pow), so the floats are the ones
 * the original Python program computes.
 */
#ifndef MICROGPT_MODEL_H
#define MICROGPT_MODEL_H

#include <stddef.h>

#include "protocol.h"

typedef struct {
    int vocab_size, n_layer, n_embd, n_head, block_size;
} Config;

/* The matrices of one layer, as pointers into the flat array. */
typedef struct {
    double *attn_wq, *attn_wk, *attn_wv, *attn_wo, *mlp_fc1, *mlp_fc2;
} LayerWeights;

typedef struct {
    double *wte, *wpe, *lm_head;
    LayerWeights *layer; /* n_layer of them */
} Weights;

/* The parameters' names and shapes, in the reference order. */
typedef struct {
    char name[48];
    int rows, cols;
    size_t offset; /* where the matrix starts in the flat array */
} Shape;

int param_shapes(const Config *c, Shape *shapes);  /* returns the count (3 + 6 * n_layer) */
size_t num_params(const Config *c);
/* Point `w` into `flat` (w->layer is malloc'ed: weights_free). */
void weights_view(const Config *c, double *flat, Weights *w);
void weights_free(Weights *w);

/* A model ready to run: the weights, and the same matrices transposed, so that `linear`'s
 * loop over outputs is the inner one (see linear_t). */
typedef struct {
    Config config;
    size_t n_params;
    double *params;      /* the flat array */
    double *transposed;  /* each matrix transposed, same offsets */
    Weights w, wt;
} Model;

int model_init(Model *m, const Config *c, Error *error);
void model_refresh(Model *m); /* after the parameters changed: recompute the transposes */
void model_free(Model *m);

/* ------------------------------------------------------------------ layers */
/* y[o] = sum_i w[o][i] * x[i], with w given transposed (wt[i * nout + o]). */
void linear_t(const double *x, const double *wt, int nin, int nout, double *y);
/* p = exp(z - max z) / sum exp(z - max z) */
void softmax(const double *z, int n, double *p);
/* y = x * (mean(x**2) + 1e-5) ** -0.5; returns the scale (mean(x**2) + 1e-5) ** -0.5 */
double rmsnorm(const double *x, int n, double *y);
/* Multi-head attention of one query q over T cached keys / values (rows of `stride`).
 * Writes the heads concatenated to `out`, and the attention weights, [head][t], to
 * `weights` (room for n_head * T) unless NULL. */
void attention(const double *q, const double *keys, const double *values, int T, int stride, int n_embd,
               int n_head, double *out, double *weights);

/* ------------------------------------------------------------------ one position */
/* The key/value cache: per layer, one row of n_embd per position seen so far. */
typedef struct {
    int length, capacity, n_layer, n_embd;
    double *keys, *values; /* [layer][position][n_embd] */
} Cache;

int cache_init(Cache *cache, const Config *c, int capacity, Error *error);
void cache_free(Cache *cache);
double *cache_key(const Cache *cache, int layer, int position);
double *cache_value(const Cache *cache, int layer, int position);

/* What the forward pass keeps of one position for the backward pass (loss.c). */
typedef struct {
    double *x0, s0;             /* wte[token] + wpe[pos], and its rmsnorm scale */
    double *x_in, *s1, *xn1;    /* per layer: the block's input, rmsnorm scale and output */
    double *q, *heads, *attn;   /* per layer: query, heads (before attn_wo), weights [head][t] */
    double *x_mid, *s2, *xn2;   /* per layer: after attention; rmsnorm before the MLP */
    double *h1;                 /* per layer: mlp_fc1's output, before relu */
    double *x_out;              /* the last layer's output, lm_head's input */
    double *probs;              /* softmax of the logits (the loss fills it) */
} Trace;

int trace_init(Trace *t, const Config *c, Error *error);
void trace_free(Trace *t);

/* The logits after `token` at position `pos`: appends this position's key and value to
 * `cache` (one more row per layer, room permitting) and attends over everything cached.
 * `trace` may be NULL. */
void gpt(const Model *m, int token, int pos, Cache *cache, double *logits, Trace *trace);

#endif
