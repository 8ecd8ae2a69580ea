#!/usr/bin/env python3
"""The course's Rust kernel behind a relay that lets `fit` redraw its progress
in place in Jupyter.

    python kernel/relay.py KERNEL_COMMAND ... --control_file CONNECTION_FILE

evcxr_jupyter passes a cell's output on to Jupyter one whole line at a time,
each as its own stream message, and Jupyter cannot rewrite a line that ended,
so a progress line printed with carriage returns would only show up when the
epoch ends. This relay runs the kernel (KERNEL_COMMAND, normally
kernel/evcxr-kernel.sh) with the same ports except its IOPub socket, which
the relay takes itself: every message the kernel publishes passes through
unchanged except the lines `fit` marks for a display (it marks them only when
the environment variable AUTOENCODERS_JUPYTER_RELAY is 1, which this relay
sets for the kernel):

    ESC _ autoencoders;live;DISPLAY_ID ESC \\ TEXT    the line being redrawn
    ESC _ autoencoders;line;DISPLAY_ID ESC \\ TEXT    a finished line
    ESC _ autoencoders;end;DISPLAY_ID ESC \\          no live line any more

(Text a cell printed without a newline just before `fit` arrives on the same
line as the mark: it is passed on as text of its own.) Those become one
Jupyter display per DISPLAY_ID (display_data, then
update_display_data): its finished lines with the live one below them, as a
terminal shows them.

The relay also takes the control channel, for Jupyter's stop button.
evcxr answers `interrupt_request` by ending the process that holds the
notebook's variables. Instead, the relay gives the kernel a private folder
(AUTOENCODERS_STOP_DIR; see the course crate's `runtime::stop`) and, when the
stop button is pressed while a cell runs a loop of the crate that listens
(the crate writes `listening` there), writes `stop`: `fit` stops after its
batch and keeps the model, the other loops end with an error, and the cell
ends normally with every variable kept. When nothing listens, when the stop
is not taken within STOP_WAIT seconds (default 5), or when the button is
pressed again before it is, the relay passes the interrupt on to evcxr, which
ends the process as it always does, and says so in the notebook. A stop
pressed while the kernel is idle does nothing. Every other control message
passes through unchanged.

The relay carries the shell channel too, so that a cell's execute_reply
says when the cell failed, as the Jupyter protocol asks and as JupyterLab
(which stops "Run All" there) and nbgrader's autograde (which scores such a
cell 0) read it. evcxr 0.22 answers a compile error with status "error" but
without the `ename`, `evalue` and `traceback` the protocol requires, and an
error returned through `?` or a panic with status "ok", having written it
to stderr. The relay holds each execute_reply until its cell's output is in
(the cell's idle status, or a second at most), fills in a compile error's
fields from the error the cell published, and turns an "ok" into an "error"
when the cell wrote to stderr (the course's rule everywhere: its notebooks
never write there unless something failed). Every other shell message
passes through unchanged.

Stdin and heartbeat go to the kernel directly. The relay ends when the
kernel ends, with its exit status (128 + N when a signal N ended it).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

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
    """What the kernel's process runs before it starts: end it when the relay
    dies (Linux), so that a killed relay leaves no kernel behind holding its
    slot. libc's prctl is looked up here, in the relay; the child only calls it."""
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None
    relay_pid = os.getpid()

    def in_child():
        if prctl is not None:
            prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != relay_pid:  # the relay died before that
            os._exit(1)

    return in_child


def parse(text):
    """(text before the mark, kind, display id, text) of a marked line, or None.
    A mark may follow text that a cell printed without a newline just before
    `fit` started; that text is kept."""
    at = text.find(MARK)
    if at < 0:
        return None
    head, sep, body = text[at + len(MARK):].partition(END)
    kind, _, display_id = head.partition(";")
    if not sep or kind not in ("live", "line", "end") or not display_id:
        return None
    return text[:at], kind, display_id, body.rstrip("\n")


class Displays:
    """The text of each display: its finished lines and its live line."""

    def __init__(self, keep=32):
        self.shown = {}  # display id -> [finished lines, live line or None]
        self.keep = keep

    def update(self, kind, display_id, text):
        """(message type, text) to publish for a marked line, or None."""
        new = display_id not in self.shown
        if new:
            if kind == "end":
                return None
            if len(self.shown) >= self.keep:
                self.shown.pop(next(iter(self.shown)))
            self.shown[display_id] = [[], None]
        lines, _ = entry = self.shown[display_id]
        if kind == "line":
            lines.append(text)
            entry[1] = None
        elif kind == "live":
            entry[1] = text
        else:
            entry[1] = None
        shown = lines + ([entry[1]] if entry[1] is not None else [])
        return ("display_data" if new else "update_display_data"), "\n".join(shown)


def relay(inner, outer, session, displays, stopper=None, replies=None):
    """Passes one message of the kernel's on, a marked line as a display."""
    frames = inner.recv_multipart()
    if stopper is not None and b"status" in frames[-4]:
        try:
            stopper.status(frames)
        except Exception as e:  # the stop button's bookkeeping must not stop the relay
            print(f"kernel-relay: a status message the relay could not read: {e!r}", file=sys.stderr)
    if replies is not None:
        try:
            replies.published(frames)
        except Exception as e:  # the repair's bookkeeping must not stop the relay
            print(f"kernel-relay: an error message the relay could not read: {e!r}", file=sys.stderr)
    if not any(MARK_JSON in f for f in frames[-4:]):
        outer.send_multipart(frames)
        return
    try:
        idents, parts = session.feed_identities(frames, copy=True)
        msg = session.deserialize(parts, content=True)
        marked = None
        if msg["header"].get("msg_type") == "stream":
            marked = parse(msg["content"].get("text", ""))
        if marked is None:
            outer.send_multipart(frames)
            return
        before, kind, display_id, text = marked
        session.session = msg["header"].get("session", session.session)
        update = displays.update(kind, display_id, text)
        if before:
            content = {"name": msg["content"].get("name", "stdout"), "text": before + "\n"}
            session.send(outer, "stream", content, parent=msg["parent_header"], ident=idents)
        if update is None:
            return
        msg_type, shown = update
        content = {
            "data": {"text/plain": shown},
            "metadata": {},
            "transient": {"display_id": display_id},
        }
        session.send(outer, msg_type, content, parent=msg["parent_header"], ident=idents)
    except Exception as e:  # a message this relay cannot read or rewrite: pass it on as it is
        print(f"kernel-relay: passed a message on unchanged: {e!r}", file=sys.stderr)
        outer.send_multipart(frames)



DELIM = b"<IDS|MSG>"


def header_of(frames):
    """The message's header as a dict (cheap: one frame parsed), or {}."""
    try:
        at = frames.index(DELIM)
        return json.loads(frames[at + 2])
    except (ValueError, IndexError, json.JSONDecodeError):
        return {}


class Stopper:
    """The stop button: the cell running, the stop folder, a stop pending."""

    def __init__(self, session, iopub, control, folder, wait):
        self.session, self.iopub, self.control = session, iopub, control
        self.folder, self.wait = folder, wait
        self.running = None  # the header of the execute_request running now
        self.execution = 0
        self.pending = None  # when a stop was written and not yet taken
        self.ours = set()  # ids of the interrupt requests the relay itself sent
        self.write("execution", "0")

    def path(self, name):
        return os.path.join(self.folder, name)

    def write(self, name, text):
        tmp = self.path(f".{name}.part")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path(name))

    def remove(self, *names):
        for name in names:
            try:
                os.remove(self.path(name))
            except OSError:
                pass

    def status(self, frames):
        """Follows the kernel's IOPub status: which cell runs."""
        header = header_of(frames)
        if header.get("msg_type") != "status":
            return
        msg = self.session.deserialize(self.session.feed_identities(frames, copy=True)[1], content=True)
        state, parent = msg["content"].get("execution_state"), msg["parent_header"]
        if parent.get("msg_type") != "execute_request":
            return
        if state == "busy":
            self.execution += 1
            self.remove("stop", "taken")
            self.write("execution", str(self.execution))
            self.running, self.pending = parent, None
        elif state == "idle" and self.running and parent.get("msg_id") == self.running.get("msg_id"):
            self.running, self.pending = None, None
            self.remove("stop", "taken")

    def interrupt(self, idents, msg):
        """Jupyter's stop button: a graceful stop where a loop listens, else evcxr's kill."""
        self.session.send(self.control, "interrupt_reply", {"status": "ok"}, parent=msg, ident=idents)
        if self.running is None:
            return  # idle: nothing to stop, nothing to lose
        listening = os.path.exists(self.path("listening"))
        if self.pending is not None:
            self.kill("the stop button was pressed again before the running code stopped")
        elif listening:
            self.write("stop", str(self.execution))
            self.pending = time.monotonic()
        else:
            self.kill("the cell was running code that does not stop on request (your own code, or a compilation)")

    def tick(self):
        """A pending stop not taken in time becomes evcxr's kill."""
        if self.pending is None:
            return
        if os.path.exists(self.path("taken")):
            self.pending = None
        elif time.monotonic() - self.pending > self.wait:
            self.kill(f"the running code did not stop within {self.wait:g} s")

    def kill(self, why):
        self.pending = None
        msg = self.session.msg("interrupt_request", {})
        self.ours.add(msg["header"]["msg_id"])
        self.session.send(self.inner_control, msg)
        text = (f"The stop button ended the process that held this notebook's variables ({why}): "
                "the kernel's variables were lost. Run the notebook's cells again from the top.\n")
        self.session.send(self.iopub, "stream", {"name": "stderr", "text": text}, parent=self.running)

    def from_kernel(self, frames):
        """A reply the kernel sent on its control channel: passed on, unless to the relay's own request."""
        try:
            at = frames.index(DELIM)
            parent = json.loads(frames[at + 3])
        except (ValueError, IndexError, json.JSONDecodeError):
            parent = {}
        if parent.get("msg_id") in self.ours:
            self.ours.discard(parent["msg_id"])
            return
        self.control.send_multipart(frames)

    def from_client(self, frames):
        """A message on the control channel: an interrupt handled here, the rest passed on."""
        if header_of(frames).get("msg_type") == "interrupt_request":
            idents, parts = self.session.feed_identities(frames, copy=True)
            self.interrupt(idents, self.session.deserialize(parts, content=True))
        else:
            self.inner_control.send_multipart(frames)

class ErrorReplies:
    """A cell's failure told in its execute_reply, as the protocol asks (see above)."""

    def __init__(self, session, grace=0.05, longest=1.0, keep=64):
        self.session, self.grace, self.longest, self.keep = session, grace, longest, keep
        self.errors = {}  # execute_request id -> the error it published
        self.stderr = {}  # execute_request id -> the lines it wrote to stderr
        self.idle = {}  # execute_request id -> when its cell went idle (evcxr may say so before replying)
        self.held = []  # [frames, parsed reply, when it came, when its cell went idle]

    def published(self, frames):
        """An IOPub message of the kernel's: errors, stderr and the end of a cell noted."""
        header = frames[-4]
        if b"error" not in header and b"stream" not in header and b"status" not in header:
            return
        msg_type = header_of(frames).get("msg_type")
        if msg_type not in ("error", "stream", "status"):
            return
        # Read, not deserialized: the session would take a second reading of
        # a message (relay() may deserialize it too) for a replayed one.
        at = frames.index(DELIM)
        parent, content = json.loads(frames[at + 3]).get("msg_id"), json.loads(frames[at + 5])
        if msg_type == "status":
            if content.get("execution_state") == "idle":
                if len(self.idle) >= self.keep:
                    self.idle.pop(next(iter(self.idle)))
                self.idle[parent] = time.monotonic()
                for held in self.held:
                    if held[1]["parent_header"].get("msg_id") == parent:
                        held[3] = self.idle.pop(parent)
            return
        if msg_type == "error":
            notes, value = self.errors, content
        elif content.get("name") == "stderr" and content.get("text", "").strip():
            notes, value = self.stderr, self.stderr.get(parent, []) + content["text"].splitlines()
        else:
            return
        if parent not in notes and len(notes) >= self.keep:
            notes.pop(next(iter(notes)))
        notes[parent] = value

    def reply(self, frames, shell):
        """A reply of the kernel's: an execute_reply is held until its cell's
        output is in (tick), any other passed on to `shell` as it is."""
        if b"execute_reply" not in frames[-4]:
            shell.send_multipart(frames)
            return
        try:
            msg = self.session.deserialize(self.session.feed_identities(frames, copy=True)[1], content=True)
        except Exception as e:  # a reply the relay cannot read: passed on as it is
            print(f"kernel-relay: passed a reply on unchanged: {e!r}", file=sys.stderr)
            shell.send_multipart(frames)
            return
        idle = self.idle.pop(msg["parent_header"].get("msg_id"), None)
        self.held.append([frames, msg, time.monotonic(), idle])

    def tick(self, shell):
        """Sends the held replies whose cells have ended (or waited long enough)."""
        now = time.monotonic()
        for held in list(self.held):
            frames, msg, came, idle = held
            if (idle is None or now - idle < self.grace) and now - came < self.longest:
                continue
            self.held.remove(held)
            self.send(frames, msg, shell)

    def send(self, frames, msg, shell):
        content, parent = msg["content"], msg["parent_header"].get("msg_id")
        error, lines = self.errors.pop(parent, None), self.stderr.pop(parent, None)
        if content.get("status") == "error" and "ename" not in content:
            error = error or {}
        elif content.get("status") == "ok" and lines:
            at = next(i for i, line in enumerate(lines) if line.strip())
            panic = "panicked at" in lines[at] and at + 1 < len(lines)  # the message is the next line
            error = {"ename": "panic" if panic else "Error", "evalue": lines[at + 1] if panic else lines[at],
                     "traceback": lines[:100]}
        else:
            shell.send_multipart(frames)
            return
        idents, _ = self.session.feed_identities(frames, copy=True)
        content = dict(content, status="error", ename=error.get("ename", "Error"),
                       evalue=error.get("evalue", "the cell stopped with an error (its output says which)"),
                       traceback=error.get("traceback", []))
        self.session.session = msg["header"].get("session", self.session.session)
        self.session.send(shell, "execute_reply", content, parent=msg["parent_header"], ident=idents,
                          metadata=msg["metadata"])


def main(argv):
    try:
        at = argv.index("--control_file")
        connection_file = argv[at + 1]
    except (ValueError, IndexError):
        sys.exit("kernel-relay: usage: relay.py KERNEL_COMMAND ... --control_file CONNECTION_FILE")
    with open(connection_file) as f:
        info = json.load(f)
    ip = info.get("ip", "127.0.0.1")
    transport = info.get("transport", "tcp")
    if transport != "tcp":
        # Only TCP ports can be moved; run the kernel as it is.
        os.execvp(argv[0], argv)

    # The kernel's copy of the connection file holds the key: a private
    # folder, a file only the user reads, removed once the kernel has read it.
    inner_info = dict(info, iopub_port=free_port(ip), control_port=free_port(ip), shell_port=free_port(ip))
    inner_dir = tempfile.mkdtemp(prefix="autoencoders-relay-")
    inner_file = os.path.join(inner_dir, "connection.json")
    with os.fdopen(os.open(inner_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        json.dump(inner_info, f)

    def forget_inner_file():
        shutil.rmtree(inner_dir, ignore_errors=True)

    key = info.get("key", "").encode()
    scheme = info.get("signature_scheme", "hmac-sha256")
    session = Session(key=key, signature_scheme=scheme, username="kernel", check_pid=False)

    ctx = zmq.Context()
    def socket(kind, port, bind):
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 1000)
        (sock.bind if bind else sock.connect)(f"tcp://{ip}:{port}")
        return sock

    # Jupyter's side (bound on the ports it gave) and the kernel's (connected to the moved ones).
    outer = socket(zmq.PUB, info["iopub_port"], True)
    inner = socket(zmq.SUB, inner_info["iopub_port"], False)
    inner.setsockopt(zmq.SUBSCRIBE, b"")
    control = socket(zmq.ROUTER, info["control_port"], True)
    inner_control = socket(zmq.DEALER, inner_info["control_port"], False)
    shell = socket(zmq.ROUTER, info["shell_port"], True)
    inner_shell = socket(zmq.DEALER, inner_info["shell_port"], False)
    replies = ErrorReplies(session)
    stop_dir = tempfile.mkdtemp(prefix="autoencoders-stop-")
    stopper = Stopper(session, outer, control, stop_dir, float(os.environ.get("STOP_WAIT", "5")))
    stopper.inner_control = inner_control

    command = list(argv)
    command[at + 1] = inner_file
    env = dict(os.environ, AUTOENCODERS_JUPYTER_RELAY="1", AUTOENCODERS_STOP_DIR=stop_dir)
    kernel = subprocess.Popen(command, env=env, preexec_fn=end_with_parent())
    # Interrupts arrive as messages (interrupt_mode "message"); a stray SIGINT
    # must not end the relay while the kernel runs on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum, _frame):
        kernel.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    displays = Displays()
    poller = zmq.Poller()
    for sock in (inner, control, inner_control, shell, inner_shell):
        poller.register(sock, zmq.POLLIN)
    try:
        while kernel.poll() is None:
            ready = dict(poller.poll(10 if replies.held else 50))
            if inner in ready:
                forget_inner_file()  # the kernel publishes: it has read the file
                while inner.poll(0):
                    relay(inner, outer, session, displays, stopper, replies)
            while shell.poll(0):
                inner_shell.send_multipart(shell.recv_multipart())
            while inner_shell.poll(0):
                replies.reply(inner_shell.recv_multipart(), shell)
            replies.tick(shell)
            while control.poll(0):
                stopper.from_client(control.recv_multipart())
            while inner_control.poll(0):
                stopper.from_kernel(inner_control.recv_multipart())
            stopper.tick()
        while inner.poll(100):
            relay(inner, outer, session, displays, stopper, replies)
        while inner_control.poll(0):
            stopper.from_kernel(inner_control.recv_multipart())
        while inner_shell.poll(0):
            replies.reply(inner_shell.recv_multipart(), shell)
        for frames, msg, _, _ in replies.held:
            replies.send(frames, msg, shell)
    finally:
        if kernel.poll() is None:
            kernel.terminate()
        forget_inner_file()
        shutil.rmtree(stop_dir, ignore_errors=True)
        for sock in (outer, inner, control, inner_control, shell, inner_shell):
            sock.close()
        ctx.term()
    code = kernel.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
