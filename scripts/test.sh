#!/usr/bin/env bash
# Runs the test suite against the real local Neo4j (started by the fixtures under
# .state/test on port 7688, stopped at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
rc=$?
# pytest's 5 = no test collected: that is a failure here, never a pass
exit $rc
