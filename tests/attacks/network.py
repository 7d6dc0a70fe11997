# The network: TCP to a listener on this machine, UDP, a name look-up, an abstract socket.
import socket as _socket


def _tcp():
    with _socket.create_connection(("127.0.0.1", T["tcp_port"]), timeout=2) as connection:
        connection.sendall(b"hello from a submission\n")


def _udp():
    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as sock:
        sock.sendto(b"hello", ("127.0.0.1", T["tcp_port"]))


def _abstract():
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as sock:
        sock.connect("\0" + T["abstract_socket"])
        sock.sendall(b"hello\n")


attempt("TCP to the listener", _tcp)
attempt("UDP", _udp)
attempt("name look-up", lambda: _socket.getaddrinfo("localhost", 80))
attempt("abstract UNIX socket", _abstract)
