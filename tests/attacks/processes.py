# Starting processes: one that outlives the grade and rewrites the attacker's reports after
# the grader is done (10 -> 100 points), by every route Python offers.
import subprocess as _subprocess
import sys as _sys
import time as _time

_FORGED = _json.dumps({"score": 100, "forged": True})


def _linger():
    """In a child that got out: wait for the grade to finish, then forge the reports."""
    _time.sleep(4)
    for _name in ("report.json", "results.json"):
        try:
            with open(_os.path.join(T["out"], T["name"], _name), "w") as _handle:
                _handle.write(_FORGED)
        except OSError:
            pass
    _os._exit(0)


def _fork():
    if _os.fork() == 0:
        _linger()


def _fork_exec():
    import _posixsubprocess

    script = ("import time, sys; time.sleep(4); "
              f"open({_os.path.join(T['out'], T['name'], 'report.json')!r}, 'w').write({_FORGED!r})")
    _posixsubprocess.fork_exec([_sys.executable, "-c", script], [_sys.executable.encode()], True, (), None,
                               None, -1, -1, -1, -1, -1, -1, *_os.pipe(), False, False, -1, None, None, None,
                               -1, None, False)


attempt("os.fork", _fork)
attempt("_posixsubprocess.fork_exec", _fork_exec)
attempt("subprocess.Popen", lambda: _subprocess.Popen([_sys.executable, "-c", "import time; time.sleep(30)"]))
attempt("os.posix_spawn", lambda: _os.posix_spawn(_sys.executable, [_sys.executable, "-c", "pass"], {}))
attempt("os.system", lambda: _os.system("sleep 30 &") == 0 or (_ for _ in ()).throw(OSError()))
