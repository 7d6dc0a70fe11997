# Filling the disk: file after file in its own folder (each under the file-size limit).
# Where the worker has namespaces (it is then PID 1 of its own), its folder is a small tmpfs
# of its own and the writes must stop early.
_written = 0
try:
    for _number in range(200):
        with open(f"blob-{_number}", "wb") as _blob:
            _blob.write(b"x" * 900_000)
        _written += 1
except OSError as _error:
    print(f"disk_flood: stopped after {_written} files: {_error}")
if _os.getpid() == 1 and _written * 900_000 > 100 * 2**20:
    escaped(f"wrote {_written * 900_000 // 2**20} MB into its folder")
