"""The collection syntraf.mesh as ad-hoc users get it: built with `ansible-galaxy collection build` from the
package's tree and installed offline from the tarball (Galaxy is never contacted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from syntraf_ctl.assets import COLLECTION_DIR


def build_and_install(work: Path) -> Path:
    """Build the tarball into `work`/dist and install it into `work`/collections; returns the collections
    path (for ANSIBLE_COLLECTIONS_PATH). Both run in `work`: from a checkout's root, its ansible.cfg puts
    the package's own copy on the collections path, and the install would find it there and do nothing."""
    galaxy = str(Path(sys.executable).with_name("ansible-galaxy"))
    dist, collections = work / "dist", work / "collections"
    build = [galaxy, "collection", "build", str(COLLECTION_DIR), "--output-path", str(dist)]
    subprocess.run(build, check=True, capture_output=True, timeout=300, cwd=work)
    [tarball] = dist.glob("syntraf-mesh-*.tar.gz")
    install = [galaxy, "collection", "install", "--offline", "-p", str(collections), str(tarball)]
    subprocess.run(install, check=True, capture_output=True, timeout=300, cwd=work)
    return collections
