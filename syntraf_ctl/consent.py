"""--allow-destroy: the consent that a change tearing the mesh down needs (docs/refused.md).

Needed when the change removes every locked edge of a mesh group or more than half of all locked edges
(syntraf_ctl.changes), or deletes the key material of more than half of the hosts the key store holds (for
example when authentication is turned off everywhere). Checked before anything is written.
"""

from __future__ import annotations

import argparse
import sys

from syntraf_ctl.auth.prepare import material_destruction
from syntraf_ctl.changes import Changes
from syntraf_ctl.plan import Plan


def refused_without_consent(plan: Plan, changes: Changes, args: argparse.Namespace) -> bool:
    """True (and why, on stderr) when the change needs --allow-destroy and did not get it.

    Raises StoreError when the key store cannot be read."""
    reasons = changes.destruction + material_destruction(plan, args.vault_password_file)
    if not reasons or args.allow_destroy:
        return False
    print("syntraf-ctl: refusing a change that would tear the mesh down:", file=sys.stderr)
    for reason in reasons:
        print(f"  - it {reason}", file=sys.stderr)
    print(
        "  run `syntraf-ctl plan` to see every change; pass --allow-destroy if this is intended",
        file=sys.stderr,
    )
    return True
