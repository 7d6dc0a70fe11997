# Credit without work: the pure backend's files read through a descriptor of their folder
# and run under another name (no import, so no import hook sees it).
import types as _types

_borrowed = None
try:
    _folder = _os.open(T["backends_dir"], _os.O_RDONLY | _os.O_DIRECTORY)
    _fd = _os.open("pure/tokenizer.py", _os.O_RDONLY, dir_fd=_folder)
    _source = _os.read(_fd, 1 << 20).decode()
    _borrowed = _types.ModuleType("my_own_tokenizer")
    exec(compile(_source, "my_own_tokenizer.py", "exec"), _borrowed.__dict__)
    escaped("read the pure backend through a directory descriptor")
except BaseException:  # noqa: BLE001
    pass


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        if _borrowed is None:
            raise NotImplementedError("tokenizer")
        return _borrowed.Tokenizer(docs) if hasattr(_borrowed, "Tokenizer") else super().build_tokenizer(docs)
