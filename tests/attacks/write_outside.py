# Writing outside its folder: plainly, through a descriptor of the target's folder
# (dir_fd, which a path-based check cannot see), and by creating new files beside them.
def _via_dir_fd(target):
    folder = _os.open(_os.path.dirname(target), _os.O_RDONLY | _os.O_DIRECTORY)
    handle = _os.open(_os.path.basename(target), _os.O_WRONLY | _os.O_APPEND, dir_fd=folder)
    _os.write(handle, b"# changed by an attack\n")


for _target in T["write_targets"]:
    attempt(f"append to {_target}", lambda: append(_target))
    attempt(f"dir_fd write to {_target}", lambda: _via_dir_fd(_target))
    attempt(f"new file beside {_target}",
            lambda: append(_os.path.join(_os.path.dirname(_target), "planted-by-attack.txt")))
attempt("replace the grader's results file", lambda: append(_os.path.join(_os.getcwd(), "..", "results.json")))
