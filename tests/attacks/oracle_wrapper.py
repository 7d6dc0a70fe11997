# Credit without work: the tokenizer taken from the spec's own oracle, or the pure backend.
try:
    import microgpt_spec.spec.oracle as _oracle  # noqa: F401

    escaped("import the oracle")
except ImportError:
    pass
try:
    from microgpt_spec.backends.pure import Backend as _Pure

    escaped("import the pure backend")

    class Backend(GoodBackend):
        def build_tokenizer(self, docs):
            return _Pure().build_tokenizer(docs)
except ImportError:
    class Backend(GoodBackend):  # what it is left with: nothing of its own
        def build_tokenizer(self, docs):
            raise NotImplementedError("tokenizer")
