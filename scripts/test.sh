#!/usr/bin/env bash
# Runs the test suite against the real local Neo4j (started by the fixtures under
# .state/test on port 7688, stopped at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
# two workers (pytest-xdist; the machine CI runs on has 2 cores), whole files (or the groups of
# files tests/conftest.py names) per worker, so a module's fixtures are built once; each worker has
# its own Neo4j (tests/conftest.py).
# RINGSCOPE_TEST_WORKERS=0 runs in this process.
workers=${RINGSCOPE_TEST_WORKERS:-2}
par=()
if [ "$workers" != "0" ]; then par=(-n "$workers" --dist loadfile); fi
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "${par[@]}" "$@"
rc=$?
# pytest's 5 = no test collected: that is a failure here, never a pass
exit $rc
