"""Debian's Chromium, headless, driven through the DevTools protocol: the live page as a viewer sees it."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from .loopback import free_port


class Browser:
    """Headless Chromium with one page, driven through the DevTools protocol."""

    def __init__(self, width: int = 420, height: int = 900) -> None:
        import websocket  # websocket-client

        port = free_port()
        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 20
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        page = next(target for target in targets if target["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                return message.get("result", {})

    def text(self, element_id: str) -> str:
        """The text of one element of the page, as the viewer sees it now."""
        expression = f"document.getElementById({json.dumps(element_id)}).textContent"
        return self.call("Runtime.evaluate", expression=expression)["result"].get("value", "")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"wrote {path}")

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
