"""A local stand-in for Slack's incoming-webhook endpoint, so alerts can be seen and tested without Slack.

`POST /services/<anything>` with a JSON body answers `ok` as Slack does and appends the body, with the path and
the time it arrived, as one line to the messages file; `GET /messages` returns them all as a JSON list.

    python -m sluice.stack.slack_receiver --port 8099 --file .sluice/slack/messages.jsonl
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sluice.settings import Settings


def messages_file(settings: Settings) -> Path:
    return settings.home / "slack" / "messages.jsonl"


def read_messages(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Receiver(ThreadingHTTPServer):
    def __init__(self, port: int, path: Path) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(raw)
        except ValueError:
            self._reply(400, b"invalid_payload")  # Slack's answer to a body that is not JSON
            return
        record = {"received_at": time.time(), "path": self.path, "payload": payload}
        with self.server.lock, self.server.path.open("a") as out:
            out.write(json.dumps(record) + "\n")
        self._reply(200, b"ok")

    def do_GET(self) -> None:
        if self.path != "/messages":
            self._reply(404, b"not found: GET /messages lists what was received")
            return
        with self.server.lock:
            body = json.dumps(read_messages(self.server.path)).encode()
        self._reply(200, body, "application/json")

    def log_message(self, format: str, *args: Any) -> None:  # keep the log to what was posted
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True, help="JSON lines, one per message received")
    args = parser.parse_args()
    Receiver(args.port, args.file).serve_forever()


if __name__ == "__main__":
    main()
