"""The schema compiles safely when many threads read their first document at the same moment.

libxml2's schema initialisation is not thread-safe; without the lock in ``xml_schema`` a fresh process whose
threads race to compile fails with "Document is not valid XML Schema". It needs a fresh interpreter, so the
race runs in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys

RACE = """
import threading
from sf1630.protocol.document import xml_schema

barrier = threading.Barrier(16)
errors = []

def first_read():
    barrier.wait()
    try:
        xml_schema()
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=first_read) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(errors), errors[:1])
"""


def test_sixteen_threads_compile_the_schema_at_once() -> None:
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "0 []", result.stdout + result.stderr
