# An error message that cannot be written as UTF-8 (lone surrogates), in a test.
class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        raise ValueError("bad \udcff character \ud800 in a message")
