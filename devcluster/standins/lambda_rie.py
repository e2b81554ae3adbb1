"""One cold start as Lambda counts it: the Runtime Interface Emulator runs `python3.13 -m
awslambdaric HANDLER` on a read-only code directory, one invocation, and the emulator's
platform log gives the figures Lambda reports:

  INIT REPORT(durationMs: …)                 Init Duration (its REPORT line's Init Duration
                                             is not the init: rie/handlers.go prints the time
                                             rapid.Init took to return, before the runtime ran)
  INVOKE RTDONE(… duration: …ms)             the first invocation's Duration

The runtime process's peak RSS (VmHWM) and CPU time are read before the emulator is stopped.
Each cold start is a new emulator and a new interpreter. The code directories are mounted
read-only in a private mount namespace (`unshare -m`, as root), as /var/task is in Lambda: an
interpreter that wanted to write bytecode there would fail the same way.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(__file__).resolve().parent / "build_lambda_runtime.sh"
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
INVOKE_DONE = re.compile(r"INVOKE RTDONE\(status: (\w+), .*duration: ([0-9.]+)ms\)")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# A sampled trace, as Lambda passes one with active tracing (awslambdaric sets _X_AMZN_TRACE_ID).
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
# Mounts each directory given read-only over itself, then runs the rest of the command.
READ_ONLY = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind -o ro "$1" "$1" || exit 97;'
    ' shift; n=$((n - 1)); done; exec "$@"'
)


@dataclass(frozen=True)
class Sample:
    init_ms: float
    invoke_ms: float
    peak_rss_kib: int
    cpu_ms: float  # the runtime process's user + system CPU time over the cold start
    response: Any

    @property
    def total_ms(self) -> float:
        return self.init_ms + self.invoke_ms


def runtime_parts() -> Path:
    """The emulator and awslambdaric, built once per version (build_lambda_runtime.sh)."""
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.005)
    raise TimeoutError(f"the emulator did not listen on {port}")


def _runtime_pid(emulator_pid: int) -> int | None:
    """The runtime client process: the emulator's child."""
    for task in Path(f"/proc/{emulator_pid}/task").iterdir():
        children = (task / "children").read_text().split()
        if children:
            return int(children[0])
    return None


def _cpu_ms(pid: int) -> float:
    """utime + stime from /proc/PID/stat (fields 14 and 15, after the command name)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Emulator:
    def __init__(self, parts: Path, python: str, read_only: bool = True) -> None:
        self.rie = parts / "aws-lambda-rie"
        self.ric = parts / "ric"
        self.python = python
        self.read_only = read_only

    def cold_start(
        self,
        task: Path,
        handler: str,
        runtime: list[Path],
        env: dict[str, str],
        event: Any,
        timeout: float = 60.0,
    ) -> Sample:
        """One fresh emulator + interpreter, one invocation of `event`."""
        api, rie_port = _free_port(), _free_port()
        # -S: this machine's site-packages are not the runtime's; the runtime's packages come
        # from PYTHONPATH (awslambdaric, boto3/botocore), the code from the working directory.
        bootstrap = [self.python, "-S", "-m", "awslambdaric", handler]
        command = [str(self.rie), *_emulator_args(rie_port, api), *bootstrap]
        if self.read_only:  # the same command, after the read-only mounts
            mounts = [str(d) for d in (task, self.ric, *runtime)]
            command = ["unshare", "-m", "sh", "-c", READ_ONLY, "sh", str(len(mounts)), *mounts]
            command += [str(self.rie), *_emulator_args(rie_port, api), *bootstrap]
        pythonpath = os.pathsep.join(str(p) for p in [self.ric, *runtime])
        full_env = env | {"PYTHONPATH": pythonpath, "LAMBDA_TASK_ROOT": str(task)}
        proc = subprocess.Popen(
            command,
            cwd=task,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + timeout
            _wait_listening(rie_port, deadline)
            request = urllib.request.Request(
                f"http://127.0.0.1:{rie_port}{INVOKE_PATH}",
                data=json.dumps(event).encode(),
                headers={"X-Amzn-Trace-Id": TRACE_HEADER},
            )
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                response = json.loads(answer.read() or b"null")
            init = invoke = None
            while time.monotonic() < deadline:
                log = "".join(lines)
                init_match, done_match = INIT_REPORT.search(log), INVOKE_DONE.search(log)
                if init_match and done_match:
                    init, invoke = float(init_match[1]), float(done_match[2])
                    if done_match[1] != "success":
                        raise RuntimeError(f"invocation failed:\n{log[-4000:]}")
                    break
                time.sleep(0.005)
            if init is None or invoke is None:
                raise TimeoutError("no INIT REPORT / INVOKE RTDONE:\n" + "".join(lines)[-4000:])
            runtime_pid = _runtime_pid(proc.pid)
            rss = _peak_rss_kib(runtime_pid) if runtime_pid else 0
            cpu = _cpu_ms(runtime_pid) if runtime_pid else 0.0
            return Sample(init, invoke, rss, cpu, response)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the emulator's own session: it and its runtime
            proc.wait()
            reader.join(timeout=5)


def _emulator_args(rie_port: int, api: int) -> list[str]:
    return [
        "--log-level", "info",
        "--runtime-interface-emulator-address", f"127.0.0.1:{rie_port}",
        "--runtime-api-address", f"127.0.0.1:{api}",
    ]  # fmt: skip
