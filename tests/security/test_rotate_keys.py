"""The rotation's state machine: what each deploy sees, the wait, and going on after a failed deploy.

The deploy itself is replaced by a recorder here (it is the real `apply` in the lab test
tests/security/test_lab_security.py): what is checked is the store each phase's deploy would read."""

from __future__ import annotations

import pytest

from syntraf_ctl.auth import store as auth_store
from syntraf_ctl.pipeline import rotate


@pytest.fixture
def path(tmp_path):
    store = auth_store.empty_store()
    auth_store.ensure_hosts(store, ["a", "b"])
    path = str(tmp_path / "iperf3-auth.yml")
    auth_store.save_store(store, path)
    return path


class Deploys:
    """Records the store's rotation state at each deploy; fails the deploys numbered in `fail`."""

    def __init__(self, path, fail=()):
        self.path, self.fail, self.seen = path, set(fail), []

    def __call__(self, step):
        store = auth_store.load_store(self.path)
        rotation = store.rotation and (store.rotation.to, store.rotation.phase)
        self.seen.append((step[:3], store.active, rotation, sorted(store.generations)))
        return len(self.seen) not in self.fail


def test_three_deploys_in_order_with_the_wait_between_switch_and_finish(path):
    deploys, slept = Deploys(path), []
    assert rotate(path, None, deploys, 42.0, sleep=lambda s: slept.append((s, len(deploys.seen)))) == 0
    assert deploys.seen == [
        ("1/3", 1, (2, "accept"), [1, 2]),
        ("2/3", 1, (2, "switch"), [1, 2]),
        ("3/3", 2, None, [2]),
    ]
    assert slept == [(42.0, 2)]  # after the switch deploy, before the old generation is removed


def test_a_failed_deploy_stops_and_the_next_run_goes_on_from_there(path):
    first = Deploys(path, fail={2})
    assert rotate(path, None, first, 0, sleep=lambda s: None) == 1
    assert [seen[0] for seen in first.seen] == ["1/3", "2/3"]
    second = Deploys(path)
    assert rotate(path, None, second, 0, sleep=lambda s: None) == 0
    assert [seen[0] for seen in second.seen] == ["2/3", "3/3"]  # accept is not repeated
    assert second.seen[-1][1:] == (2, None, [2])


def test_nothing_to_rotate_is_an_error(tmp_path):
    with pytest.raises(auth_store.StoreError, match="no material to rotate"):
        rotate(str(tmp_path / "none.yml"), None, Deploys(""), 0)
