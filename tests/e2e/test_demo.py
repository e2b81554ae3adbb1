"""`python -m registrar demo` as a person runs it: it ends with a Bound claim, and whether it
finishes or is interrupted, no process it started outlives it and its files are gone."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARK = "REGISTRAR_DEMO_TEST_RUN"
TIMEOUT = 180


@pytest.fixture
def demo_env() -> Iterator[dict[str, str]]:
    """The environment of one demo run, marked so every descendant can be found by it."""
    env = dict(os.environ)
    env[MARK] = uuid.uuid4().hex
    # scripts/setup installs a .pth for lambdas/; do not depend on it here.
    paths = [str(REPO / "lambdas"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(key, None)
    yield env
    leftover = processes_marked(env[MARK])
    for pid in leftover:  # never leave them to the next test, even when it failed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes_marked(mark: str) -> list[int]:
    """Live processes whose environment carries this run's mark (the demo's descendants)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(mark: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def demo_command() -> list[str]:
    return [sys.executable, "-m", "registrar", "demo"]


def test_demo_ends_with_a_bound_claim_and_leaves_nothing_behind(
    demo_env: dict[str, str],
) -> None:
    result = subprocess.run(
        demo_command(), cwd=REPO, env=demo_env, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.rstrip().splitlines()
    assert re.fullmatch(
        r"Done in [\d.]+s: PersistentVolumeClaim default/ebs-test-volume-pvc is Bound\.", lines[-1]
    ), lines[-1]
    out = result.stdout
    assert "CloudTrailCreateVolume   MATCHES" in out
    registered = "registered demo/ebs-test-volume -> default/ebs-test-volume-pvc"
    assert f"outcome: registered: {registered}" in out
    table = [line.split() for line in lines if "persistentvolume" in line]
    assert [row[0] for row in table] == [
        "persistentvolume/ebs-test-volume",
        "persistentvolumeclaim/ebs-test-volume-pvc",
    ]
    assert all("Bound" in row for row in table), table
    assert f"k8s-pv-status = {registered}" in out
    # The tutorial's Deployment, its restarted pod and its redeployed pod: each scheduled on
    # the node of the volume's zone (the demo's nodes: ap-northeast-1a, 1c and 1d).
    placed = re.findall(r"(ebs-test-app-\S+): scheduled on (\S+) \((\S+)\), claim (\S+)", out)
    assert len(placed) == 3, out
    assert len({pod for pod, *_ in placed}) == 3, placed
    assert {tuple(rest) for _, *rest in placed} == {
        ("node-ap-northeast-1a", "ap-northeast-1a", "ebs-test-volume-pvc")
    }, placed
    rows = [line.split() for line in lines if line.strip().startswith("ebs-test-app-")]
    wide = [row for row in rows if not row[0].endswith(":")]  # kubectl get pod -o wide
    assert [row[0] for row in wide] == [pod for pod, *_ in placed], wide
    assert all(row[6] == "node-ap-northeast-1a" for row in wide), wide
    assert "Traceback" not in result.stderr

    assert wait_gone(demo_env[MARK]) == []
    workdir = re.search(r"(/\S+registrar-demo-\w+) removed", out)
    assert workdir and not Path(workdir.group(1)).exists(), out


def test_interrupted_demo_stops_everything_it_started(demo_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        demo_command(), cwd=REPO, env=demo_env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # Ctrl-C once the control plane and moto both run
            seen.append(line)
            if line.startswith("[3/"):
                break
        assert processes_marked(demo_env[MARK]), "".join(seen)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest

    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert wait_gone(demo_env[MARK]) == []
    workdir = re.search(r"(/\S+registrar-demo-\w+) removed", out)
    assert workdir and not Path(workdir.group(1)).exists(), out
