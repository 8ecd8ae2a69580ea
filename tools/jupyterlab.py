"""JupyterLab and headless Chromium, started the same way for every check
that looks at the course in a real browser (tools/progress_check.py,
tools/screenshot_check.py, tools/stop_check.py).

    with lab_server(notebook_dir) as lab:        # JupyterLab on a free port, private settings
        with chromium(lab.url("notebooks/x.ipynb")) as page:   # a page driven over DevTools
            page.eval("...")
"""
import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds):
    """The body of `url` once it answers, within `seconds`."""
    for _ in range(seconds * 4):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer in {seconds} s")


def chromium_path():
    """Debian's chromium (or another Chrome), or None."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def jupyter_lab_path():
    lab = os.path.join(ROOT, ".venv", "bin", "jupyter-lab")
    return lab if os.path.exists(lab) else shutil.which("jupyter-lab")


class Lab:
    """A running JupyterLab: its port, token and settings folder."""

    def __init__(self, port, token, work):
        self.port, self.token, self.work = port, token, work

    def url(self, path, workspace="check"):
        """The page that opens `path` (relative to the served folder) alone in a reset workspace."""
        return f"http://127.0.0.1:{self.port}/lab/workspaces/{workspace}/tree/{path}?reset&token={self.token}"


@contextlib.contextmanager
def lab_server(notebook_dir, env=None):
    """JupyterLab serving `notebook_dir`, with settings of its own (every
    cell rendered, not only those near the viewport; no news prompt), on a
    free port; stopped and cleaned up at the end."""
    lab = jupyter_lab_path()
    if not lab:
        raise RuntimeError("no JupyterLab: run scripts/setup-course.sh first")
    work = tempfile.mkdtemp()
    settings = os.path.join(work, "settings", "@jupyterlab")
    for ext, name, body in [("notebook-extension", "tracker", {"windowingMode": "none"}),
                            ("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False})]:
        os.makedirs(os.path.join(settings, ext), exist_ok=True)
        with open(os.path.join(settings, ext, f"{name}.jupyterlab-settings"), "w") as f:
            json.dump(body, f)
    port, token = free_port(), f"check{os.getpid()}"
    lab_env = dict(env or os.environ, JUPYTERLAB_SETTINGS_DIR=os.path.join(work, "settings"),
                   JUPYTER_RUNTIME_DIR=os.path.join(work, "runtime"))
    proc = subprocess.Popen(
        [lab, "--no-browser", "--allow-root", f"--port={port}", f"--ServerApp.token={token}",
         "--ServerApp.port_retries=0", "--ContentsManager.allow_hidden=True", "--LabApp.expose_app_in_browser=True",
         f"--notebook-dir={notebook_dir}"],
        env=lab_env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "lab.log"), "w"))
    try:
        wait_for(f"http://127.0.0.1:{port}/api/status?token={token}", 60)
        yield Lab(port, token, work)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


class Page:
    """A page in Chromium, driven through its DevTools protocol."""

    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method, **params):
        self.next_id += 1
        self.ws.write_message(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self.ws.read_message())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def eval(self, js):
        result = await self.call("Runtime.evaluate", expression=js, awaitPromise=False)
        return result["result"].get("value")

    async def click(self, selector):
        """Clicks the element `selector` names as a person would: the mouse
        pressed and released over its centre (JupyterLab's toolbar buttons act
        on the press, so a script's `element.click()` does nothing). Returns
        False when no such element is shown."""
        box = await self.eval(f"""(() => {{
          const e = document.querySelector({json.dumps(selector)});
          if (!e) return null;
          const r = e.getBoundingClientRect();
          return JSON.stringify([r.left + r.width / 2, r.top + r.height / 2]);
        }})()""")
        if not box:
            return False
        x, y = json.loads(box)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        return True

    async def screenshot(self, path):
        shot = await self.call("Page.captureScreenshot", format="png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


def run_in_chromium(url, session, size="1200,900"):
    """Opens `url` in headless Chromium and runs `await session(page)`;
    returns what it returns."""
    chrome = chromium_path()
    if not chrome:
        raise RuntimeError("no chromium (Debian: apt-get install chromium)")
    work, debug_port = tempfile.mkdtemp(), free_port()
    proc = subprocess.Popen(
        [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--remote-debugging-port={debug_port}", f"--user-data-dir={work}/chrome", f"--window-size={size}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = json.loads(wait_for(f"http://127.0.0.1:{debug_port}/json/list", 30))
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

        async def main():
            from tornado.websocket import websocket_connect

            ws = await websocket_connect(ws_url, max_message_size=64 << 20)
            try:
                return await session(Page(ws))
            finally:
                ws.close()

        return asyncio.run(main())
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
