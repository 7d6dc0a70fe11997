# Unbounded memory: decode keeps allocating.
class GreedyTokenizer(Tokenizer):
    def decode(self, ids):
        hoard = []
        while True:
            hoard.append(bytearray(10**7))


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        return GreedyTokenizer(docs)
