# A hard link made inside its own folder to a file outside, then written through the link.
for _number, _target in enumerate(T["write_targets"]):
    _alias = f"alias-{_number}"
    attempt(f"hard link to {_target}", lambda: (_os.link(_target, _alias), append(_alias)))
    attempt(f"linkat to {_target}",
            lambda: _os.link(_os.path.basename(_target), _alias + "b",
                             src_dir_fd=_os.open(_os.path.dirname(_target), _os.O_RDONLY | _os.O_DIRECTORY)))
