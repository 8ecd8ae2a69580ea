#!/usr/bin/env python3
"""The course's Rust kernel behind a relay that lets `fit` redraw its progress
in place in Jupyter.

    python scripts/kernel-relay.py KERNEL_COMMAND ... --control_file CONNECTION_FILE

evcxr_jupyter passes a cell's output on to Jupyter one whole line at a time,
each as its own stream message, and Jupyter cannot rewrite a line that ended,
so a progress line printed with carriage returns would only show up when the
epoch ends. This relay runs the kernel (KERNEL_COMMAND, normally
scripts/evcxr-kernel.sh) with the same ports except its IOPub socket, which
the relay takes itself: every message the kernel publishes passes through
unchanged except the lines `fit` marks for a display (it marks them only when
the environment variable AUTOENCODERS_JUPYTER_RELAY is 1, which this relay
sets for the kernel):

    ESC _ autoencoders;live;DISPLAY_ID ESC \\ TEXT    the line being redrawn
    ESC _ autoencoders;line;DISPLAY_ID ESC \\ TEXT    a finished line

Those become one Jupyter display per DISPLAY_ID (display_data, then
update_display_data): its finished lines with the live one below them, as a
terminal shows them. Shell, control, stdin and heartbeat go to the kernel
directly. The relay ends when the kernel ends, with its exit status.
"""
import json
import os
import signal
import socket
import subprocess
import sys

import zmq
from jupyter_client.session import Session

MARK = "\x1b_autoencoders;"
MARK_JSON = json.dumps(MARK)[1:-1].encode()  # how the mark reads inside a message's JSON
END = "\x1b\\"


def free_port(ip):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def end_with_parent():
    """In the kernel's process: end it when the relay dies (Linux), so that a
    killed relay leaves no kernel behind holding its slot."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parse(text):
    """(kind, display id, text) of a marked line, or None."""
    if not text.startswith(MARK):
        return None
    head, sep, body = text[len(MARK):].partition(END)
    kind, _, display_id = head.partition(";")
    if not sep or kind not in ("live", "line") or not display_id:
        return None
    return kind, display_id, body.rstrip("\n")


class Displays:
    """The text of each display: its finished lines and its live line."""

    def __init__(self, keep=32):
        self.shown = {}  # display id -> [finished lines, live line or None]
        self.keep = keep

    def update(self, kind, display_id, text):
        """(message type, text) to publish for a marked line."""
        new = display_id not in self.shown
        if new:
            if len(self.shown) >= self.keep:
                self.shown.pop(next(iter(self.shown)))
            self.shown[display_id] = [[], None]
        lines, _ = entry = self.shown[display_id]
        if kind == "line":
            lines.append(text)
            entry[1] = None
        else:
            entry[1] = text
        shown = lines + ([entry[1]] if entry[1] is not None else [])
        return ("display_data" if new else "update_display_data"), "\n".join(shown)


def relay(inner, outer, session, displays):
    frames = inner.recv_multipart()
    if not any(MARK_JSON in f for f in frames[-4:]):
        outer.send_multipart(frames)
        return
    try:
        idents, parts = session.feed_identities(frames, copy=True)
        msg = session.deserialize(parts, content=True)
    except Exception:  # not a message this relay can read: pass it on as it is
        outer.send_multipart(frames)
        return
    marked = None
    if msg["header"].get("msg_type") == "stream":
        marked = parse(msg["content"].get("text", ""))
    if marked is None:
        outer.send_multipart(frames)
        return
    kind, display_id, text = marked
    msg_type, shown = displays.update(kind, display_id, text)
    content = {
        "data": {"text/plain": shown},
        "metadata": {},
        "transient": {"display_id": display_id},
    }
    session.send(outer, msg_type, content, parent=msg["parent_header"], ident=idents)


def main(argv):
    try:
        at = argv.index("--control_file")
        connection_file = argv[at + 1]
    except (ValueError, IndexError):
        sys.exit("kernel-relay: usage: kernel-relay.py KERNEL_COMMAND ... --control_file CONNECTION_FILE")
    with open(connection_file) as f:
        info = json.load(f)
    ip = info.get("ip", "127.0.0.1")
    transport = info.get("transport", "tcp")
    if transport != "tcp":
        # Only TCP ports can be moved; run the kernel as it is.
        os.execvp(argv[0], argv)

    inner_info = dict(info, iopub_port=free_port(ip))
    inner_file = connection_file + ".relay.json"
    with open(inner_file + ".part", "w") as f:
        json.dump(inner_info, f)
    os.replace(inner_file + ".part", inner_file)

    key = info.get("key", "").encode()
    scheme = info.get("signature_scheme", "hmac-sha256")
    session = Session(key=key, signature_scheme=scheme, username="kernel", check_pid=False)

    ctx = zmq.Context()
    outer = ctx.socket(zmq.PUB)
    outer.setsockopt(zmq.LINGER, 1000)
    outer.bind(f"tcp://{ip}:{info['iopub_port']}")
    inner = ctx.socket(zmq.SUB)
    inner.setsockopt(zmq.SUBSCRIBE, b"")
    inner.connect(f"tcp://{ip}:{inner_info['iopub_port']}")

    command = list(argv)
    command[at + 1] = inner_file
    env = dict(os.environ, AUTOENCODERS_JUPYTER_RELAY="1")
    # Interrupts arrive as messages (interrupt_mode "message"); a stray SIGINT
    # must not end the relay while the kernel runs on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel = subprocess.Popen(command, env=env, preexec_fn=end_with_parent)

    def stop(signum, _frame):
        kernel.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    displays = Displays()
    poller = zmq.Poller()
    poller.register(inner, zmq.POLLIN)
    try:
        while kernel.poll() is None:
            if poller.poll(200):
                while inner.poll(0):
                    relay(inner, outer, session, displays)
        while inner.poll(100):
            relay(inner, outer, session, displays)
    finally:
        if kernel.poll() is None:
            kernel.terminate()
        try:
            os.remove(inner_file)
        except OSError:
            pass
        outer.close()
        inner.close()
        ctx.term()
    return kernel.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
