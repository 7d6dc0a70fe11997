# Writing files: a fake results.json where the grader keeps its own, and files elsewhere.
import json
import pathlib

FAKE = json.dumps({"score": 1000, "tests": []})
ATTEMPTS = []
for target in ("results.json", "../results.json", "../grader/results.json",
               str(pathlib.Path(__file__).parent / "planted.txt"), "/tmp/microgpt-hostile-planted.txt",
               os.path.expanduser("~/microgpt-hostile-planted.txt")):
    try:
        with open(target, "w") as handle:
            handle.write(FAKE)
        ATTEMPTS.append((target, "written"))
    except OSError as error:
        ATTEMPTS.append((target, type(error).__name__))


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        try:
            pathlib.Path("/tmp/microgpt-hostile-planted-in-test.txt").write_text("x")
        except OSError:
            pass
        return super().build_tokenizer(docs)
