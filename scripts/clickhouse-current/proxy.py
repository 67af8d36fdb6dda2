# A logging HTTP proxy in front of ClickHouse: every request (path and query, body) and
# its answer, as JSON lines. Usage: proxy.py PORT TARGET_URL LOG_FILE
import base64, http.server, json, sys, threading, urllib.request
TARGET = sys.argv[2]
LOG = open(sys.argv[3], "a")
LOCK = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self): self.fwd()
    def do_GET(self): self.fwd()
    def fwd(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        req = urllib.request.Request(TARGET + self.path, data=body if self.command == "POST" else None, method=self.command)
        for k in ("Content-Type", "X-ClickHouse-User", "X-ClickHouse-Key", "Authorization"):
            if self.headers.get(k): req.add_header(k, self.headers[k])
        try:
            with urllib.request.urlopen(req) as r: status, out = r.status, r.read()
        except urllib.error.HTTPError as e: status, out = e.code, e.read()
        with LOCK:
            LOG.write(json.dumps({"path": self.path, "body": base64.b64encode(body).decode(), "status": status, "out": out.decode("utf-8", "replace")}) + "\n"); LOG.flush()
        self.send_response(status); self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
