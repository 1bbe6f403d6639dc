#!/usr/bin/env python3
"""An https front for the loopback test factory: relays every request to the plain-http
factory on 127.0.0.1:<upstream>. With MODE `downgrade`, image downloads are instead redirected
to that plain-http address, as a CDN that downgrades would; with `downgrade-registry`, registry
GETs (`/v2/`) are. Prints its port once it listens.

usage: tls_front.py CERT KEY UPSTREAM_PORT relay|downgrade|downgrade-registry
"""
import http.client
import http.server
import ssl
import sys

cert, key, upstream, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self):
        downgraded = (mode == "downgrade" and self.path.startswith("/image/")) or (
            mode == "downgrade-registry" and self.command == "GET" and self.path.startswith("/v2/")
        )
        if downgraded:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{upstream}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        connection.request(self.command, self.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = relay

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
