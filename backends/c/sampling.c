/* sampling.c: sample_next and generate (see sampling.h). */
#include "sampling.h"

#include <math.h>

#include "engine.h"

/* Python's rng.choices(range(V), weights=probs)[0], given its one random number u:
 * cum_weights add the weights left to right; the pick is the first id whose cumulative
 * weight exceeds u * total (bisect_right over the first V - 1 of them). */
static int choose(const double *cumulative, int n, double u) {
    double x = u * cumulative[n - 1];
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (x < cumulative[mid]) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

int sample_next(const double *logits, int V, double temperature, const Json *rng, int *token, Error *error) {
    if (V < 1) return set_error(error, "ValueError", "max() arg is an empty sequence");
    /* probs = softmax(logits / temperature); the original divides as z * temperature ** -1 */
    double inverse_t, scaled[V], probs[V], cumulative[V];
    if (!python_pow(temperature, -1.0, &inverse_t, error)) return 0;
    for (int i = 0; i < V; i++) scaled[i] = logits[i] * inverse_t;
    softmax(scaled, V, probs);
    double total = 0.0;
    for (int i = 0; i < V; i++) cumulative[i] = total += probs[i];
    if (!(cumulative[V - 1] > 0.0)) return set_error(error, "ValueError", "Total of weights must be greater than zero");
    if (!isfinite(cumulative[V - 1])) return set_error(error, "ValueError", "Total of weights must be finite");
    double u;
    if (!protocol_draw(rng, "random", 1, 0, 0, &u, error)) return 0;
    *token = choose(cumulative, V, u);
    return 1;
}

int generate(const Model *m, double temperature, const Json *rng, int *ids, Error *error) {
    const Config *c = &m->config;
    Cache cache;
    if (!cache_init(&cache, c, c->block_size, error)) return -1;
    double logits[c->vocab_size];
    int token = c->vocab_size - 1, count = 0; /* BOS */
    for (int pos = 0; pos < c->block_size; pos++) {
        gpt(m, token, pos, &cache, logits, NULL);
        if (!sample_next(logits, c->vocab_size, temperature, rng, &token, error)) { count = -1; break; }
        if (token == c->vocab_size - 1) break;
        ids[count++] = token;
    }
    cache_free(&cache);
    return count;
}
