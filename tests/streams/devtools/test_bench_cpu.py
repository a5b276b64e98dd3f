"""The bench's CPU figure: a process's CPU seconds from /proc, nothing for a gone process."""

from __future__ import annotations

import os
import subprocess
import sys

from streams.devtools.bench import process_cpu_s


def test_cpu_of_a_live_process_grows_and_a_gone_one_is_none() -> None:
    before = process_cpu_s(os.getpid())
    assert before is not None
    sum(i * i for i in range(2_000_000))  # some CPU of our own
    after = process_cpu_s(os.getpid())
    assert after is not None and after >= before
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_cpu_s(gone.pid) is None
