# A 30-million-character backend name (reports of 30 MB, if nothing caps it).
class Backend(GoodBackend):
    name = "x" * 30_000_000
