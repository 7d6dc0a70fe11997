# Monkeypatching the spec's oracle, its assertions and pytest from inside the submission,
# hoping to pass with a wrong tokenizer (BOS = 0).
import microgpt_spec.spec.assertions as assertions
import microgpt_spec.spec.oracle as oracle


def agree(*args, **kwargs):
    return None


assertions.expect = agree
assertions.expect_close = agree
for name in dir(oracle):
    if not name.startswith("_") and callable(getattr(oracle, name)):
        setattr(oracle, name, agree)
try:
    import _pytest.outcomes
    import pytest

    pytest.fail = agree
    _pytest.outcomes.fail = agree
except ImportError:
    pass


class WrongTokenizer(Tokenizer):
    def __init__(self, docs):
        super().__init__(docs)
        self.bos = 0


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        return WrongTokenizer(docs)
