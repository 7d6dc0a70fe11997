/* storage.c: the model's memory, apart from its mathematics (model.c): where each weight
 * matrix lives in one flat array, the key/value cache, and the trace a forward pass keeps
 * for the backward pass. Shared as it is with the scaffold (templates/c). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ parameters */
int param_shapes(const Config *c, Shape *shapes) {
    int n = 0;
    size_t offset = 0;
#define SHAPE(NAME_FORMAT, LAYER, ROWS, COLS)                                              \
    do {                                                                                 \
        snprintf(shapes[n].name, sizeof shapes[n].name, NAME_FORMAT, LAYER);             \
        shapes[n].rows = (ROWS), shapes[n].cols = (COLS), shapes[n].offset = offset;      \
        offset += (size_t)(ROWS) * (size_t)(COLS);                                       \
        n++;                                                                             \
    } while (0)
    SHAPE("wte%.0d", 0, c->vocab_size, c->n_embd);
    SHAPE("wpe%.0d", 0, c->block_size, c->n_embd);
    SHAPE("lm_head%.0d", 0, c->vocab_size, c->n_embd);
    for (int l = 0; l < c->n_layer; l++) {
        SHAPE("layer%d.attn_wq", l, c->n_embd, c->n_embd);
        SHAPE("layer%d.attn_wk", l, c->n_embd, c->n_embd);
        SHAPE("layer%d.attn_wv", l, c->n_embd, c->n_embd);
        SHAPE("layer%d.attn_wo", l, c->n_embd, c->n_embd);
        SHAPE("layer%d.mlp_fc1", l, 4 * c->n_embd, c->n_embd);
        SHAPE("layer%d.mlp_fc2", l, c->n_embd, 4 * c->n_embd);
    }
#undef SHAPE
    return n;
}

size_t num_params(const Config *c) {
    size_t e = (size_t)c->n_embd;
    return (2 * (size_t)c->vocab_size + (size_t)c->block_size) * e + (size_t)c->n_layer * 12 * e * e;
}

void weights_view(const Config *c, double *flat, Weights *w) {
    size_t e = (size_t)c->n_embd, at = 0;
    w->wte = flat + at, at += (size_t)c->vocab_size * e;
    w->wpe = flat + at, at += (size_t)c->block_size * e;
    w->lm_head = flat + at, at += (size_t)c->vocab_size * e;
    w->layer = malloc((size_t)c->n_layer * sizeof *w->layer);
    for (int l = 0; l < c->n_layer; l++) {
        LayerWeights *lw = &w->layer[l];
        lw->attn_wq = flat + at, at += e * e;
        lw->attn_wk = flat + at, at += e * e;
        lw->attn_wv = flat + at, at += e * e;
        lw->attn_wo = flat + at, at += e * e;
        lw->mlp_fc1 = flat + at, at += 4 * e * e;
        lw->mlp_fc2 = flat + at, at += 4 * e * e;
    }
}

void weights_free(Weights *w) { free(w->layer); w->layer = NULL; }

int model_init(Model *m, const Config *c, Error *error) {
    memset(m, 0, sizeof *m);
    m->config = *c;
    m->n_params = num_params(c);
    m->params = calloc(m->n_params, sizeof(double));
    m->transposed = calloc(m->n_params, sizeof(double));
    if (!m->params || !m->transposed) { model_free(m); return set_error(error, "MemoryError", "model"); }
    weights_view(c, m->params, &m->w);
    weights_view(c, m->transposed, &m->wt);
    return 1;
}

void model_refresh(Model *m) {
    Shape shapes[3 + 6 * m->config.n_layer];
    int n = param_shapes(&m->config, shapes);
    for (int s = 0; s < n; s++) {
        const double *w = m->params + shapes[s].offset;
        double *wt = m->transposed + shapes[s].offset;
        int rows = shapes[s].rows, cols = shapes[s].cols;
        for (int o = 0; o < rows; o++)
            for (int i = 0; i < cols; i++) wt[i * rows + o] = w[o * cols + i];
    }
}

void model_free(Model *m) {
    free(m->params);
    free(m->transposed);
    weights_free(&m->w);
    weights_free(&m->wt);
    m->params = m->transposed = NULL;
}

/* ------------------------------------------------------------------ the cache and the trace */
int cache_init(Cache *cache, const Config *c, int capacity, Error *error) {
    cache->length = 0;
    cache->capacity = capacity;
    cache->n_layer = c->n_layer;
    cache->n_embd = c->n_embd;
    size_t size = (size_t)c->n_layer * (size_t)(capacity ? capacity : 1) * (size_t)c->n_embd;
    cache->keys = calloc(size, sizeof(double));
    cache->values = calloc(size, sizeof(double));
    if (!cache->keys || !cache->values) { cache_free(cache); return set_error(error, "MemoryError", "cache"); }
    return 1;
}

void cache_free(Cache *cache) { free(cache->keys); free(cache->values); cache->keys = cache->values = NULL; }

double *cache_key(const Cache *cache, int layer, int position) {
    return cache->keys + ((size_t)layer * (size_t)cache->capacity + (size_t)position) * (size_t)cache->n_embd;
}

double *cache_value(const Cache *cache, int layer, int position) {
    return cache->values + ((size_t)layer * (size_t)cache->capacity + (size_t)position) * (size_t)cache->n_embd;
}

int trace_init(Trace *t, const Config *c, Error *error) {
    size_t e = (size_t)c->n_embd, L = (size_t)c->n_layer;
    memset(t, 0, sizeof *t);
    t->x0 = calloc(e, sizeof(double));
    t->x_in = calloc(L * e, sizeof(double));
    t->s1 = calloc(L, sizeof(double));
    t->xn1 = calloc(L * e, sizeof(double));
    t->q = calloc(L * e, sizeof(double));
    t->heads = calloc(L * e, sizeof(double));
    t->attn = calloc(L * (size_t)c->n_head * (size_t)c->block_size, sizeof(double));
    t->x_mid = calloc(L * e, sizeof(double));
    t->s2 = calloc(L, sizeof(double));
    t->xn2 = calloc(L * e, sizeof(double));
    t->h1 = calloc(L * 4 * e, sizeof(double));
    t->x_out = calloc(e, sizeof(double));
    t->probs = calloc((size_t)c->vocab_size, sizeof(double));
    if (!t->x0 || !t->x_in || !t->s1 || !t->xn1 || !t->q || !t->heads || !t->attn || !t->x_mid || !t->s2 ||
        !t->xn2 || !t->h1 || !t->x_out || !t->probs) {
        trace_free(t);
        return set_error(error, "MemoryError", "trace");
    }
    return 1;
}

void trace_free(Trace *t) {
    double *all[] = {t->x0, t->x_in, t->s1, t->xn1, t->q, t->heads, t->attn, t->x_mid, t->s2, t->xn2, t->h1,
                     t->x_out, t->probs};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    memset(t, 0, sizeof *t);
}
