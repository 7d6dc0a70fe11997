/* tokenizer.c: the character tokenizer (see tokenizer.h). */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

static int compare_code_points(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

Tokenizer *tokenizer_build(const char *const *docs, const size_t *lengths, size_t n_docs, Error *error) {
    size_t total = 0;
    for (size_t d = 0; d < n_docs; d++) total += lengths[d];
    Tokenizer *tok = calloc(1, sizeof *tok);
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    if (!tok || !all) { free(tok); free(all); set_error(error, "MemoryError", "tokenizer"); return NULL; }
    /* every character of every document, then sorted, then the repeats dropped */
    size_t n = 0;
    for (size_t d = 0; d < n_docs; d++)
        for (size_t i = 0; i < lengths[d];)
            i += (size_t)utf8_decode((const unsigned char *)docs[d] + i, lengths[d] - i, &all[n++]);
    qsort(all, n, sizeof *all, compare_code_points);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (distinct == 0 || all[i] != all[distinct - 1]) all[distinct++] = all[i];
    tok->chars = all;
    tok->n = distinct;
    return tok;
}

static long id_of(const Tokenizer *tok, uint32_t c) {
    size_t lo = 0, hi = tok->n;
    while (lo < hi) { /* binary search in the sorted characters */
        size_t mid = (lo + hi) / 2;
        if (tok->chars[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < tok->n && tok->chars[lo] == c ? (long)lo : -1;
}

long tokenizer_encode(const Tokenizer *tok, const char *text, size_t length, int64_t *ids, Error *error) {
    long count = 0;
    for (size_t i = 0; i < length;) {
        uint32_t c;
        int bytes = utf8_decode((const unsigned char *)text + i, length - i, &c);
        long id = id_of(tok, c);
        if (id < 0) {
            set_error(error, "ValueError", "character '%.*s' is not in the vocabulary (%zu characters)", bytes,
                      text + i, tok->n);
            return -1;
        }
        ids[count++] = id;
        i += (size_t)bytes;
    }
    return count;
}

long tokenizer_decode(const Tokenizer *tok, const int64_t *ids, size_t n, char *out, Error *error) {
    long bytes = 0;
    int64_t bos = (int64_t)tok->n;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] > bos) {
            set_error(error, "ValueError", "token id %lld is outside 0..%lld (BOS is %lld)", (long long)ids[i],
                      (long long)bos, (long long)bos);
            return -1;
        }
    for (size_t i = 0; i < n; i++)
        if (ids[i] != bos) bytes += utf8_encode(tok->chars[ids[i]], out + bytes);
    out[bytes] = '\0';
    return bytes;
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->chars);
    free(tok);
}
