# An endless loop in one function: decode never returns.
class LoopingTokenizer(Tokenizer):
    def decode(self, ids):
        while True:
            pass


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        return LoopingTokenizer(docs)
