"""A virtual power switch for a virtual module: labgrid's "simplerest" power protocol over HTTP,
switched through the `gridpod vboard` control socket (`power on` / `power off`).

labgrid's NetworkPowerDriver with `model: simplerest` sends
    GET {url}/relay/{index}/1    power on        GET {url}/relay/{index}/0    power off
    GET {url}/relay/{index}      state: "1" or "0"
so the exporter file describes the virtual module's supply exactly as it describes a real
bench's PDU outlet, and the client uses labgrid's own power driver for both.

    switch = PowerSwitch("build/vboard.ctl", host="127.0.0.1", port=0)
    switch.url          # http://127.0.0.1:PORT (port 0: a free one)
    switch.close()

Only outlet 0 exists. The server listens on the address it is given (loopback by default): it
is as open as the bench's own PDU would be, so give it a lab network address only on purpose.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .. import GridpodError
from ..vboard.control import request


class PowerSwitch:
    def __init__(self, control: str, host: str = "127.0.0.1", port: int = 0):
        self.control = control
        switch = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                code, body = switch.answer(self.path)
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # the exporter's log is enough
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, path: str) -> tuple[int, str]:
        """(HTTP status, body) for one request path; never raises."""
        parts = [p for p in path.split("?")[0].split("/") if p]
        if len(parts) not in (2, 3) or parts[0] != "relay" or parts[1] != "0":
            return 404, "only /relay/0 and /relay/0/{0,1} exist\n"
        value = parts[2] if len(parts) == 3 else ""
        if value not in ("", "0", "1"):
            return 400, "value is 0 (off) or 1 (on)\n"
        line = {"": "power", "0": "power off", "1": "power on"}[value]
        try:
            reply = request(self.control, line)
        except GridpodError as e:
            return 503, f"{e}\n"
        if not reply.get("ok"):
            return 503, f"{reply.get('error', 'refused')}\n"
        return 200, "1" if reply["powered"] else "0"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
