"""A stand-in for the part of a Kubernetes API server that Prometheus's pod discovery and the API server's pod
proxy use, for tests/e2e/test_cluster_metrics.py: no k3s node image can be had on these machines, so no real API
server can run (README, "Verified here").

It serves, over HTTPS with the certificate it is given, only what a ServiceAccount limited to one namespace's pods
may do (cluster_metrics.rbac_manifests): list and watch the pods of that namespace (JSON, which client-go decodes
whatever it asked for; a watch stays open and sends nothing, or, when asked for initial events, sends them and the
end-of-initial-events bookmark first), and GET through a pod's proxy, which it forwards to the container named
like the pod on the Docker network. Anything else is 404; a request without the expected bearer token is 401, as
a real server answers it. Every request is logged to stdout as one JSON line, for the test to read.

Configuration from the environment: FAKE_TOKEN, FAKE_NAMESPACE, FAKE_PODS (a JSON list of Pod objects),
FAKE_CERT and FAKE_KEY (PEM files). Standard library only: it runs on the MLServer test image's Python."""

from __future__ import annotations

import json
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = os.environ["FAKE_TOKEN"]
NAMESPACE = os.environ.get("FAKE_NAMESPACE", "seldon")
PODS = json.loads(os.environ["FAKE_PODS"])
RESOURCE_VERSION = "100"
PODS_PATH = f"/api/v1/namespaces/{NAMESPACE}/pods"
PROXY = re.compile(rf"^/api/v1/namespaces/{NAMESPACE}/pods/([a-z0-9.-]+):(\d+)/proxy(/.*)?$")


def log(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # the JSON lines are the log
        pass

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _status(self, code: int, reason: str, message: str) -> None:
        doc = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason}
        self._send(code, json.dumps({**doc, "code": code}).encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        auth = self.headers.get("Authorization", "")
        log(method="GET", path=url.path, query=query, auth=auth, accept=self.headers.get("Accept", ""))
        if auth != f"Bearer {TOKEN}":
            return self._status(401, "Unauthorized", "Unauthorized")
        if url.path == PODS_PATH and query.get("watch") in ("true", "1"):
            return self._watch(query)
        if url.path == PODS_PATH:
            doc = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": RESOURCE_VERSION}}
            return self._send(200, json.dumps({**doc, "items": PODS}).encode())
        m = PROXY.match(url.path)
        if m and any(p["metadata"]["name"] == m.group(1) for p in PODS):
            return self._proxy(m.group(1), m.group(2), (m.group(3) or "/") + (f"?{url.query}" if url.query else ""))
        return self._status(404, "NotFound", f"the server could not find the requested resource ({url.path})")

    def _watch(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if query.get("sendInitialEvents") == "true":
            for pod in PODS:
                self._chunk(json.dumps({"type": "ADDED", "object": pod}).encode() + b"\n")
            bookmark = {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {
                    "resourceVersion": RESOURCE_VERSION,
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            }
            self._chunk(json.dumps({"type": "BOOKMARK", "object": bookmark}).encode() + b"\n")
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds", "300")), 300)
        while time.monotonic() < deadline:  # nothing changes; the client re-watches when this ends
            time.sleep(1)
        self._chunk(b"")

    def _proxy(self, pod: str, port: str, path: str) -> None:
        try:
            with urllib.request.urlopen(f"http://{pod}:{port}{path}", timeout=10) as r:
                body, ctype, code = r.read(), r.headers.get("Content-Type", "text/plain"), r.status
        except urllib.error.HTTPError as e:
            body, ctype, code = e.read(), e.headers.get("Content-Type", "text/plain"), e.code
        except OSError as e:  # the API server's answer when the pod does not answer
            return self._status(503, "ServiceUnavailable", f"error trying to reach service: {e}")
        self._send(code, body, ctype)


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("FAKE_PORT", "6443"))), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.environ["FAKE_CERT"], os.environ["FAKE_KEY"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    log(event="listening", port=server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
