/* loss.c: the loss of a sequence, forward and backward by hand (see loss.h). */
#include "loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int workspace_init(Workspace *ws, const Config *c, Error *error) {
    memset(ws, 0, sizeof *ws);
    ws->config = *c;
    if (!cache_init(&ws->cache, c, c->block_size, error)) return 0;
    size_t cells = (size_t)c->n_layer * (size_t)c->block_size * (size_t)c->n_embd;
    ws->traces = calloc((size_t)c->block_size, sizeof *ws->traces);
    ws->logits = calloc((size_t)c->vocab_size, sizeof(double));
    ws->dK = calloc(cells, sizeof(double));
    ws->dV = calloc(cells, sizeof(double));
    if (!ws->traces || !ws->logits || !ws->dK || !ws->dV) { workspace_free(ws); return set_error(error, "MemoryError", "workspace"); }
    for (int t = 0; t < c->block_size; t++)
        if (!trace_init(&ws->traces[t], c, error)) { workspace_free(ws); return 0; }
    return 1;
}

void workspace_free(Workspace *ws) {
    cache_free(&ws->cache);
    for (int t = 0; ws->traces && t < ws->config.block_size; t++) trace_free(&ws->traces[t]);
    free(ws->traces);
    free(ws->logits);
    free(ws->dK);
    free(ws->dV);
    memset(ws, 0, sizeof *ws);
}

/* -log p[target], p = softmax(logits). The original writes -(p.log()), i.e. log(p) * -1. */
double token_loss(const double *logits, int vocab_size, int target, double *probs) {
    softmax(logits, vocab_size, probs);
    return log(probs[target]) * -1.0;
}

/* ------------------------------------------------------------------ backward helpers */
/* y = x * s with s = (mean(x**2) + eps) ** -0.5:
 *     dx_i = s * dy_i - (s**3 / n) * (sum_j dy_j x_j) * x_i      (added to dx) */
static void rmsnorm_backward(const double *x, double s, const double *dy, int n, double *dx) {
    double dot = 0.0;
    for (int j = 0; j < n; j++) dot += dy[j] * x[j];
    double k = s * s * s / n * dot;
    for (int i = 0; i < n; i++) dx[i] += s * dy[i] - k * x[i];
}

/* y = W x (W: nout rows of nin):  dx += W^T dy,  dW += dy x^T. */
static void linear_backward(const double *x, const double *w, const double *dy, int nin, int nout, double *dx,
                            double *dw) {
    for (int o = 0; o < nout; o++) {
        const double g = dy[o], *row = w + (size_t)o * nin;
        double *drow = dw + (size_t)o * nin;
        for (int i = 0; i < nin; i++) dx[i] += row[i] * g;
        for (int i = 0; i < nin; i++) drow[i] += g * x[i];
    }
}

/* The gradient of one position's attention (layer l, position t) towards its query and
 * every cached key and value: score = q.k / sqrt(d), w = softmax(score), out = sum w v. */
static void attention_backward(const Workspace *ws, const Trace *tr, int l, int t, const double *dheads, double *dq) {
    const Config *c = &ws->config;
    const int E = c->n_embd, d = E / c->n_head, T = t + 1;
    const double inverse_sqrt_d = pow(pow((double)d, 0.5), -1.0);
    const double *q = tr->q + l * E;
    for (int h = 0; h < c->n_head; h++) {
        const double *w = tr->attn + (size_t)l * c->n_head * c->block_size + (size_t)h * T; /* as attention() wrote them */
        const double *dout = dheads + h * d;
        double dw[T], dscore[T], dot = 0.0;
        for (int s = 0; s < T; s++) {
            const double *v = cache_value(&ws->cache, l, s) + h * d;
            double *dv = ws->dV + ((size_t)l * c->block_size + s) * E + h * d;
            double sum = 0.0;
            for (int j = 0; j < d; j++) { sum += dout[j] * v[j]; dv[j] += w[s] * dout[j]; }
            dw[s] = sum;
            dot += w[s] * sum;
        }
        for (int s = 0; s < T; s++) dscore[s] = w[s] * (dw[s] - dot) * inverse_sqrt_d; /* softmax backward */
        for (int s = 0; s < T; s++) {
            const double *k = cache_key(&ws->cache, l, s) + h * d;
            double *dk = ws->dK + ((size_t)l * c->block_size + s) * E + h * d;
            for (int j = 0; j < d; j++) { dq[h * d + j] += dscore[s] * k[j]; dk[j] += dscore[s] * q[h * d + j]; }
        }
    }
}

/* ------------------------------------------------------------------ the loss */
int sequence_loss(const Model *m, const int *tokens, int n_tokens, double scale, double *grads, Workspace *ws,
                  double *loss, Error *error) {
    const Config *c = &m->config;
    const int E = c->n_embd, H = 4 * E, V = c->vocab_size;
    int n = n_tokens - 1 < c->block_size ? n_tokens - 1 : c->block_size;
    if (n < 1) return set_error(error, "ValueError", "a training sequence needs at least 2 tokens, got %d", n_tokens);
    for (int t = 0; t <= n; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return set_error(error, "IndexError", "token id %d is outside the vocabulary 0..%d", tokens[t], V - 1);
    /* forward: position by position, keeping what the backward pass needs */
    ws->cache.length = 0;
    double total = 0.0;
    for (int t = 0; t < n; t++) {
        gpt(m, tokens[t], t, &ws->cache, ws->logits, &ws->traces[t]);
        total += token_loss(ws->logits, V, tokens[t + 1], ws->traces[t].probs);
    }
    double inverse_n = 1.0 / n;
    *loss = total * inverse_n; /* the mean, written (1/n) * sum as the original does */
    if (!grads) return 1;

    /* backward: positions in reverse, so that every later position has added its part to
     * the gradient of this position's cached key and value before they are used */
    Weights g;
    weights_view(c, grads, &g);
    memset(ws->dK, 0, (size_t)c->n_layer * c->block_size * E * sizeof(double));
    memset(ws->dV, 0, (size_t)c->n_layer * c->block_size * E * sizeof(double));
    const double g_loss = scale * inverse_n; /* d loss / d (one position's loss) */
    for (int t = n - 1; t >= 0; t--) {
        const Trace *tr = &ws->traces[t];
        double dlogits[V], dx[E], dy[E], dhidden[H], dq[E], dxn[E];
        /* d(-log p[target]) / d logits = p - onehot(target) */
        for (int i = 0; i < V; i++) dlogits[i] = (tr->probs[i] - (i == tokens[t + 1])) * g_loss;
        memset(dx, 0, sizeof dx);
        linear_backward(tr->x_out, m->w.lm_head, dlogits, E, V, dx, g.lm_head);
        for (int l = c->n_layer - 1; l >= 0; l--) {
            const LayerWeights *w = &m->w.layer[l];
            LayerWeights *gw = &g.layer[l];
            /* MLP block: x_out = fc2(relu(h1)) + x_mid, h1 = fc1(xn2) */
            double relu_h[H];
            const double *h1 = tr->h1 + l * H;
            for (int j = 0; j < H; j++) relu_h[j] = h1[j] > 0 ? h1[j] : 0.0;
            memset(dhidden, 0, sizeof dhidden);
            linear_backward(relu_h, w->mlp_fc2, dx, H, E, dhidden, gw->mlp_fc2);
            for (int j = 0; j < H; j++) if (!(h1[j] > 0)) dhidden[j] = 0.0; /* relu' */
            memset(dxn, 0, sizeof dxn);
            linear_backward(tr->xn2 + l * E, w->mlp_fc1, dhidden, E, H, dxn, gw->mlp_fc1);
            rmsnorm_backward(tr->x_mid + l * E, tr->s2[l], dxn, E, dx); /* dx: residual + through the norm */
            /* attention block: x_mid = attn_wo(heads) + x_in */
            memset(dy, 0, sizeof dy);
            linear_backward(tr->heads + l * E, w->attn_wo, dx, E, E, dy, gw->attn_wo);
            memset(dq, 0, sizeof dq);
            attention_backward(ws, tr, l, t, dy, dq);
            const double *dk = ws->dK + ((size_t)l * c->block_size + t) * E;
            const double *dv = ws->dV + ((size_t)l * c->block_size + t) * E;
            memset(dxn, 0, sizeof dxn);
            linear_backward(tr->xn1 + l * E, w->attn_wq, dq, E, E, dxn, gw->attn_wq);
            linear_backward(tr->xn1 + l * E, w->attn_wk, dk, E, E, dxn, gw->attn_wk);
            linear_backward(tr->xn1 + l * E, w->attn_wv, dv, E, E, dxn, gw->attn_wv);
            rmsnorm_backward(tr->x_in + l * E, tr->s1[l], dxn, E, dx);
        }
        /* embedding: x = rmsnorm(wte[token] + wpe[t]) */
        double dx0[E];
        memset(dx0, 0, sizeof dx0);
        rmsnorm_backward(tr->x0, tr->s0, dx, E, dx0);
        double *dwte = g.wte + (size_t)tokens[t] * E, *dwpe = g.wpe + (size_t)t * E;
        for (int i = 0; i < E; i++) { dwte[i] += dx0[i]; dwpe[i] += dx0[i]; }
    }
    weights_free(&g);
    return 1;
}
