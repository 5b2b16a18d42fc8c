"""`make run` as a new user sees it: a short welcome with the address and the name, then the
web UI answering; no echoed recipe and no install noise (the venv exists already here)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from conftest import LOOPBACK_ONLY

from ipfeed import node
from ipfeed.config import Settings

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_make_run_prints_a_short_welcome_and_serves(tmp_path: Path) -> None:
    port, home = free_port(), tmp_path / "home"
    env = {**os.environ, "IPFEED_HOME": str(home), "IPFEED_WEB_PORT": str(port),
           "IPFEED_NODE_PROFILE": "test", "IPFEED_SWARM": "/ip4/127.0.0.1/tcp/0",
           "IPFEED_NODE_CONFIG": json.dumps(LOOPBACK_ONLY)}
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a user's make, not one under `make test`
        env.pop(var, None)
    proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(1)
        assert page is not None and page.status_code == 200, proc.poll()
        assert "Welcome to ipfeed" in page.text  # the first run asks for a display name
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        node.stop(Settings.from_env(env), timeout=10)
    lines = [line for line in out.splitlines() if line.strip()]
    # The first run shows the recovery phrase once (init commits the feed to it), then the welcome.
    assert len(lines) == 5, out
    assert lines[0].startswith("recovery phrase (shown once")
    assert re.fullmatch(r"  [0-9a-z]{4}(-[0-9a-z]{4}){13}", lines[1]), lines[1]
    lines = lines[2:]
    assert lines[0] == f"  ipfeed is running: open http://127.0.0.1:{port}/ in your browser."
    assert re.fullmatch(r"  Your name \(give it to friends\): k51qzi5uqu5[a-z0-9]+", lines[1]), lines[1]
    assert "node stop" in lines[2]
    # stderr: the server's one line; a request is logged only if it failed (this one did not);
    # nothing of make, pip or Kubo.
    noise = [line for line in err.splitlines() if line.strip()
             and not line.startswith(f"ipfeed web UI on http://127.0.0.1:{port}/")
             and not re.match(r"make(\[\d+\])?: \*\*\* ", line)]  # make's words on this test's SIGTERM
    assert noise == [], err
