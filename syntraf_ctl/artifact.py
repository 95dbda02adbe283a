"""The probe artifact: one zipapp holding syntraf_probe and its pure-Python dependencies.

Hosts run it with the interpreter of the host layout (syntraf_ctl.assets) and need no internet and no pip:
everything is taken from the controller's own installed environment. The archive is byte-reproducible (sorted
entries, fixed timestamps and modes), so its content hash names it in the cache and Ansible's checksum
comparison sees no change when nothing changed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from syntraf_probe.atomic_write import write_atomically

from syntraf_ctl.assets import host_layout

PROBE_DISTRIBUTION = "syntraf-probe"
MAIN = b"import sys\n\nfrom syntraf_probe.cli import main\n\nsys.exit(main())\n"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib")


class ArtifactError(RuntimeError):
    pass


@dataclass(frozen=True)
class Artifact:
    path: str
    digest: str  # sha256 of the archive's content (names the cached file)
    requires_python: str  # the lowest Python version every bundled distribution supports, e.g. "3.11"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "syntraf" / "artifacts"


def required_distributions(root: str = PROBE_DISTRIBUTION) -> list[importlib.metadata.Distribution]:
    """`root` and everything it needs at run time (no extras) in this environment, in a stable order."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-").replace(".", "-")
        if key in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise ArtifactError(
                f"{name} (needed by the probe) is not installed in {sys.prefix}: pip install {name}"
            ) from None
        found[key] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return [found[key] for key in sorted(found)]


def top_level_names(dist: importlib.metadata.Distribution) -> list[str]:
    listed = (dist.read_text("top_level.txt") or "").split()
    if listed:
        return sorted(set(listed))
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first == ".." or first.endswith((".dist-info", ".data", ".pth")) or first == "__pycache__":
            continue
        if len(file.parts) > 1 or first.endswith(".py"):
            names.add(first.removesuffix(".py"))
    return sorted(names)


def module_files(name: str) -> dict[str, bytes]:
    """Archive name -> content of every file of top-level module or package `name` (no bytecode)."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ArtifactError(f"cannot find module {name} in {sys.prefix}")
    if not spec.submodule_search_locations:
        origin = Path(spec.origin)
        return {origin.name: origin.read_bytes()}
    files = {}
    for location in spec.submodule_search_locations:
        base = Path(location)
        for path in sorted(base.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if path.name.endswith(NATIVE_SUFFIXES):
                raise ArtifactError(
                    f"{path} is a native extension: the probe artifact holds pure Python only"
                )
            files[f"{name}/{path.relative_to(base).as_posix()}"] = path.read_bytes()
    return files


def lowest_python(dists: list[importlib.metadata.Distribution]) -> str:
    """The lowest 3.x version that satisfies every distribution's Requires-Python."""
    specifiers = SpecifierSet()
    for dist in dists:
        specifiers &= SpecifierSet(dist.metadata.get("Requires-Python") or "")
    for minor in range(6, 30):
        if specifiers.contains(f"3.{minor}.0") or specifiers.contains(f"3.{minor}.99"):
            return f"3.{minor}"
    raise ArtifactError(f"no Python 3 version satisfies the bundled distributions ({specifiers})")


@functools.cache
def collect_once() -> tuple[dict[str, bytes], str]:
    return collect()


def collect() -> tuple[dict[str, bytes], str]:
    dists = required_distributions()
    files: dict[str, bytes] = {"__main__.py": MAIN}
    for dist in dists:
        for name in top_level_names(dist):
            files.update(module_files(name))
    return files, lowest_python(dists)


def write_zipapp(files: dict[str, bytes], target: Path) -> None:
    """Write a reproducible zipapp: same files in, same bytes out."""
    raw = io.BytesIO()
    raw.write(shebang())
    with zipfile.ZipFile(raw, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compresslevel=9)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, raw.getvalue())


def shebang() -> bytes:
    """The zipapp's first line: the hosts' interpreter."""
    return f"#!{host_layout().python}\n".encode()


def content_digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(shebang())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def prune(cache_dir: Path, keep: Path, count: int = 5) -> None:
    """Keep the `count` newest artifacts of the cache (and `keep`): each probe change adds one."""
    cached = sorted(
        cache_dir.glob("syntraf-probe-*.pyz"), key=lambda path: path.stat().st_mtime, reverse=True
    )
    for path in cached[count:]:
        if path != keep:
            path.unlink(missing_ok=True)


def build(cache_dir: Path | None = None) -> Artifact:
    """Build the probe zipapp (or reuse the cached one with the same content) and return where it is.
    The sources are read once per process: they do not change under a running command."""
    files, requires_python = collect_once()
    digest = content_digest(files)
    target = (cache_dir or default_cache_dir()) / f"syntraf-probe-{digest[:16]}.pyz"
    if not target.exists():
        write_zipapp(files, target)
        prune(target.parent, keep=target)
    return Artifact(path=str(target), digest=digest, requires_python=requires_python)
