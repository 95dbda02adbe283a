"""Action: the host's clock minus the controller's, read over the already open connection."""

from __future__ import annotations

DOCUMENTATION = r"""
name: syntraf_clock_offset
short_description: measure a host's clock offset from the controller's
description:
  - Reads the host's UTC time (`date +%s.%N`) between two readings of the controller's clock.
  - Returns C(offset) (host minus controller, seconds) and C(uncertainty) (half the round trip).
options: {}
"""

import time  # noqa: E402 (documentation first)

from ansible.errors import AnsibleActionFail  # noqa: E402 (documentation first)
from ansible.plugins.action import ActionBase  # noqa: E402 (documentation first)


class ActionModule(ActionBase):
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        self._low_level_execute_command("true")  # open the connection first: only the reading is timed
        before = time.time()
        reading = self._low_level_execute_command("date -u +%s.%N")
        after = time.time()
        try:
            host_time = float(reading["stdout"].strip())
        except (KeyError, ValueError):
            raise AnsibleActionFail(f"cannot read the host's clock: {reading.get('stderr', '')!r}") from None
        result.update(
            changed=False,
            offset=round(host_time - (before + after) / 2, 3),
            uncertainty=round((after - before) / 2, 3),
        )
        return result
