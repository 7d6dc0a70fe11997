# A reply of tens of megabytes (the grader's memory, if nothing caps it).
class HugeTokenizer(Tokenizer):
    def encode(self, text):
        return [0] * 10_000_000


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        return HugeTokenizer(docs)
