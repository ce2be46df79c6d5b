"""requirements.lock, the exact dependency versions a deployment installs, agrees with pyproject.

`make lock` writes it with pip-compile (pip-tools) from pyproject.toml: every
runtime dependency and what it needs, each pinned `name==version` with the
hashes of its files. A dependency added to or changed in pyproject.toml without
`make lock` fails here, before a deployment installs something else.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in project()["dependencies"]]


def lock_entries() -> dict[str, tuple[Version, list[str]]]:
    """Each pinned package of the lock: its version and the hashes given for it."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        pinned = PIN.match(line)
        if pinned:
            current = canonicalize_name(pinned.group(1))
            assert current not in entries, f"{current} is pinned twice"
            entries[current] = (Version(pinned.group(2)), [])
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            entries[current][1].append(line.strip())
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"not a pin, a hash or a comment: {line!r}")
    return entries


def test_every_runtime_dependency_of_pyproject_is_pinned_in_the_lock_within_its_range():
    entries = lock_entries()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement} is not in requirements.lock: run `make lock`"
        version = entries[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement}: run `make lock`"
        )


def test_the_extras_a_dependency_is_asked_for_are_locked_too():
    """`psycopg[binary]` needs psycopg-binary, `Flask-Limiter[redis]` needs redis."""
    entries = lock_entries()
    for requirement in runtime_requirements():
        for extra in requirement.extras:
            needed = [
                Requirement(text)
                for text in metadata.requires(requirement.name) or []
                if Requirement(text).marker is not None
                and Requirement(text).marker.evaluate({"extra": extra})  # type: ignore[union-attr]
                and not Requirement(text).marker.evaluate({"extra": ""})  # type: ignore[union-attr]
            ]
            assert needed, f"{requirement}: its extra {extra!r} names no dependency here"
            for dependency in needed:
                assert canonicalize_name(dependency.name) in entries, (
                    f"{dependency.name} (for {requirement}) is not in requirements.lock"
                )


def test_every_pin_carries_hashes_so_pip_install_require_hashes_accepts_the_lock():
    for name, (_, hashes) in lock_entries().items():
        assert hashes, f"{name} has no --hash in requirements.lock"


def test_the_lock_holds_runtime_dependencies_only_not_the_test_tools():
    entries = lock_entries()
    development = {
        canonicalize_name(Requirement(text).name)
        for text in project()["optional-dependencies"]["dev"]
    }
    runtime = {canonicalize_name(r.name) for r in runtime_requirements()}
    assert not (development - runtime) & set(entries)
    assert canonicalize_name(project()["name"]) not in entries  # installed with --no-deps
