# Changing the working directory, at import and in every test.
os.chdir("/")


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        try:
            os.chdir(os.path.expanduser("~"))
        except OSError:
            os.chdir("/")
        return super().build_tokenizer(docs)
