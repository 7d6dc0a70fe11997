# A flood of printing: megabytes at import and on every tokenizer built.
print("x" * 3_000_000)


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        for _ in range(1000):
            print("flood " * 200)
        sys.stderr.write("e" * 100_000)
        return super().build_tokenizer(docs)
