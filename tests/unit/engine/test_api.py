"""engine.local_socket: the fast path only for a local unix socket."""

from __future__ import annotations

import json

from stackyard.engine import api as engine


def test_docker_host_unix_socket_is_used(tmp_path):
    assert engine.local_socket({"DOCKER_HOST": "unix:///tmp/x.sock"}) == "/tmp/x.sock"


def test_remote_hosts_and_contexts_fall_back_to_compose(tmp_path):
    assert engine.local_socket({"DOCKER_HOST": "ssh://deploy@prod"}) is None
    assert engine.local_socket({"DOCKER_HOST": "tcp://10.0.0.5:2376"}) is None
    assert engine.local_socket({"DOCKER_CONTEXT": "remote"}) is None
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert engine.local_socket({"DOCKER_CONFIG": str(tmp_path)}) is None


def test_project_containers_over_a_unix_socket(tmp_path):
    import http.server
    import socketserver
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = json.dumps([{"Names": ["/p-api-1"]}]).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.UnixStreamServer):
        def get_request(self):
            conn, _ = super().get_request()
            return conn, ("local", 0)

    path = str(tmp_path / "engine.sock")
    with Server(path, Handler) as server:
        t = threading.Thread(target=server.handle_request, daemon=True)
        t.start()
        rows = engine.project_containers(path, "p")
        t.join(5)
    assert rows == [{"Names": ["/p-api-1"]}]
    assert seen and "com.docker.compose.project%3Dp" in seen[0] and "oneoff%3DFalse" in seen[0]
