/* tokenizer.h: characters <-> token ids.
 * Ids 0..n-1 are the sorted distinct characters (Unicode code points) of the documents;
 * BOS = n marks both the start and the end of a document; vocab_size = n + 1. */
#ifndef MICROGPT_TOKENIZER_H
#define MICROGPT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

typedef struct {
    uint32_t *chars; /* sorted, distinct */
    size_t n;
    int refs;
} Tokenizer;

/* From documents given as UTF-8 strings. */
Tokenizer *tokenizer_build(const char *const *docs, const size_t *lengths, size_t n_docs, Error *error);
/* The ids of `text`'s characters into ids (room for `length` ids); returns the count, or -1
 * with a ValueError naming an unknown character. */
long tokenizer_encode(const Tokenizer *tok, const char *text, size_t length, int64_t *ids, Error *error);
/* The characters of `ids` (BOS left out) as UTF-8 into out (room for 4 * n + 1 bytes);
 * returns the byte count, or -1 with a ValueError for an id outside 0..BOS. */
long tokenizer_decode(const Tokenizer *tok, const int64_t *ids, size_t n, char *out, Error *error);
void tokenizer_free(Tokenizer *tok);

#endif
