# Switching the grader's audit hook off (its policy object is reachable through the garbage
# collector), then writing outside, connecting out and starting a process.
import gc as _gc
import socket as _socket

for _obj in _gc.get_objects():
    if hasattr(_obj, "_handlers") and hasattr(_obj, "refused"):
        try:
            _obj._handlers.clear()
            _obj.refused.clear()
        except Exception:  # noqa: BLE001
            pass
attempt("write the canary with the hook off", lambda: append(T["canary"]))
attempt("connect out with the hook off",
        lambda: _socket.create_connection(("127.0.0.1", T["tcp_port"]), timeout=2).sendall(b"hook off\n"))
attempt("fork with the hook off", lambda: _os.fork() or None)
