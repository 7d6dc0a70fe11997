# A folder submission with its own conftest.py, pytest.ini, pyproject.toml and .hypothesis/
# (all ignored by the grader), and a wrong tokenizer (BOS = 0) that must still fail.
class WrongTokenizer(Tokenizer):
    def __init__(self, docs):
        super().__init__(docs)
        self.bos = 0


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        return WrongTokenizer(docs)
