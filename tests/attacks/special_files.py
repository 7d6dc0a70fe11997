# Named pipes and device nodes: outside its folder (where a reader could block on them)
# and inside it.
import stat as _stat

for _folder in (T["outside"], _os.getcwd()):
    attempt(f"mkfifo in {_folder}", lambda: _os.mkfifo(_os.path.join(_folder, "fifo")))
    attempt(f"mknod in {_folder}",
            lambda: _os.mknod(_os.path.join(_folder, "null"), _stat.S_IFCHR | 0o666, _os.makedev(1, 3)))
