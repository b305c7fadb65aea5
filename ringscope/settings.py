"""Paths and settings shared by every part of ringscope.

State lives under the repository root of a source checkout (``<repo>/.state``),
else under ``~/.ringscope`` (an installed wheel), unless an environment
variable says otherwise:

- ``RINGSCOPE_HOME``   state (Neo4j install, data, password file, generated
                        demo city, results, users, audit log)
- ``NEO4J_URI`` / ``NEO4J_USER`` / ``NEO4J_PASSWORD``  point everything at
  another Neo4j (Aura, a cluster, a container) instead of the local server.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPO_ROOT", "state_dir", "Neo4jSettings", "neo4j_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# a source checkout (editable install) has its pyproject beside the packages; a wheel does not
_CHECKOUT = (REPO_ROOT / "pyproject.toml").exists() and (REPO_ROOT / "ringscope").is_dir()
SHARED_DIR = REPO_ROOT.parent / "shared"

LOCAL_BOLT_PORT = 7687
LOCAL_HTTP_PORT = 7474


def state_dir() -> Path:
    default = REPO_ROOT / ".state" if _CHECKOUT else Path.home() / ".ringscope"
    p = Path(os.environ.get("RINGSCOPE_HOME", default))
    p.mkdir(parents=True, exist_ok=True)
    return p


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str
    user: str
    password: str
    database: str = "neo4j"
    local: bool = True  # True when it is the project's own server


def _local_password_file() -> Path:
    return state_dir() / "neo4j" / "password"


def neo4j_settings() -> Neo4jSettings:
    """Connection settings: the environment wins, else the local server."""
    uri = os.environ.get("NEO4J_URI")
    if uri:
        return Neo4jSettings(
            uri=uri,
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD", ""),
            database=os.environ.get("NEO4J_DATABASE", "neo4j"),
            local=False,
        )
    pw_file = _local_password_file()
    password = pw_file.read_text().strip() if pw_file.exists() else ""
    port = int(os.environ.get("RINGSCOPE_BOLT_PORT", LOCAL_BOLT_PORT))
    return Neo4jSettings(uri=f"bolt://127.0.0.1:{port}", user="neo4j", password=password)
