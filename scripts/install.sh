#!/usr/bin/env bash
# Installs everything ringscope needs, idempotently: the virtual environment in
# .venv/ with pinned packages, the Neo4j server jars (Maven Central; no plugins),
# and with --browser Debian's chromium + chromium-driver for the browser test.
# A second run checks stamps and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BROWSER=0
for a in "$@"; do case "$a" in --browser) BROWSER=1 ;; esac; done

say() { printf '[install] %s\n' "$*"; }

# --- Python 3.11 -------------------------------------------------------------------
PY=""
for c in python3.11 python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,11) else 1)' 2>/dev/null; then
    PY=$(command -v "$c"); break
  fi
done
[ -n "$PY" ] || { echo "ringscope needs Python 3.11 (python3.11 or python3 on PATH)" >&2; exit 1; }

# --- virtual environment ---------------------------------------------------------
STAMP=.venv/.ringscope-stamp
WANT=$(cat pyproject.toml constraints.txt scripts/install.sh | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
if [ "$(cat $STAMP 2>/dev/null)" != "$WANT" ]; then
  say "installing Python packages (first time: a few minutes; torch is large)"
  .venv/bin/python -m pip install -q --upgrade "pip>=24" "setuptools<81" wheel
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
  # face_recognition pins dlib, whose source build takes ~14 min on 2 cores; the
  # dlib-bin wheel (a dependency above) provides the same module, so no deps here.
  .venv/bin/python -m pip install -q --no-deps "face-recognition==1.3.0"
  .venv/bin/python -c "import face_recognition, torch, torch_geometric, igraph, leidenalg, neo4j, streamlit" 2>/dev/null \
    || { echo "[install] the environment imports failed" >&2; .venv/bin/python -c "import face_recognition, torch, torch_geometric, igraph, leidenalg, neo4j, streamlit"; exit 1; }
  echo "$WANT" > $STAMP
else
  say ".venv is up to date"
fi

# --- Neo4j jars ----------------------------------------------------------------------
command -v java >/dev/null || { echo "ringscope needs Java 17 (java on PATH) for Neo4j" >&2; exit 1; }
command -v mvn >/dev/null || { echo "ringscope needs Maven (mvn on PATH) to fetch Neo4j" >&2; exit 1; }
say "Neo4j jars: $(.venv/bin/ringscope neo4j install | tr -d '\n ' )"

# --- browser for the screenshot test -----------------------------------------------
if [ "$BROWSER" = 1 ]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Debian's chromium, chromium-driver and a CJK font (for 中文 in pages and PDFs)"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
    else
      say "chromium/chromedriver missing and no root apt-get: the browser test will skip"
    fi
  fi
fi
say "done"
