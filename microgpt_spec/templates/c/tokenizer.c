/* tokenizer.c: characters <-> token ids (the tokenizer area). A stub: see tokenizer.h. */
#include "tokenizer.h"

#include <stdlib.h>

Tokenizer *tokenizer_build(const char *const *docs, const size_t *lengths, size_t n_docs, Error *error) {
    (void)docs; (void)lengths; (void)n_docs;
    set_error(error, "NotImplementedError", "tokenizer: build_tokenizer(docs)");
    return NULL;
}

long tokenizer_encode(const Tokenizer *tok, const char *text, size_t length, int64_t *ids, Error *error) {
    (void)tok; (void)text; (void)length; (void)ids;
    set_error(error, "NotImplementedError", "tokenizer: encode(text)");
    return -1;
}

long tokenizer_decode(const Tokenizer *tok, const int64_t *ids, size_t n, char *out, Error *error) {
    (void)tok; (void)ids; (void)n; (void)out;
    set_error(error, "NotImplementedError", "tokenizer: decode(ids)");
    return -1;
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->chars);
    free(tok);
}
