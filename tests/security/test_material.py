"""Generation, users-file format, store round trip (plain and vaulted), scoping, and the version rule."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from syntraf_ctl.auth import store as auth_store
from syntraf_ctl.auth.compat import pair_auth, parse_version
from syntraf_ctl.auth.facts import plan_auth
from syntraf_ctl.auth.material import (
    PASSWORD_CHARS,
    new_host_material,
    pair_password,
    password_hash,
    users_file,
)
from syntraf_ctl.auth.scope import host_files


def test_material_is_rsa_2048_pkcs8_unencrypted_and_spki_of_the_same_key():
    material = new_host_material()
    assert material.private_key.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert material.public_key.startswith("-----BEGIN PUBLIC KEY-----\n")
    key = serialization.load_pem_private_key(material.private_key.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    public = serialization.load_pem_public_key(material.public_key.encode())
    ciphertext = public.encrypt(b"probe", padding.PKCS1v15())
    assert key.decrypt(ciphertext, padding.PKCS1v15()) == b"probe"


def test_material_is_fresh_every_time_and_never_shown_by_repr():
    first, second = new_host_material(), new_host_material()
    assert first.seed != second.seed and first.private_key != second.private_key
    assert first.seed not in repr(first) and "PRIVATE" not in repr(first)


def test_pair_passwords_differ_per_listener_and_seed_and_have_no_whitespace_or_comma():
    seed_a, seed_b = new_host_material().seed, new_host_material().seed
    passwords = {pair_password(seed, listener) for seed in (seed_a, seed_b) for listener in ("l1", "l2")}
    assert len(passwords) == 4
    for password in passwords:
        assert len(password) == PASSWORD_CHARS
        assert not any(char.isspace() or char == "," for char in password)
    assert pair_password(seed_a, "l1") == pair_password(seed_a, "l1")  # derived, so stable


def test_users_file_format_matches_iperf3():
    # the reference's own example (reference/iperf3.md §5), checked against iperf3 3.12
    assert password_hash("probe", "s3cr3t-Pass") == (
        "10d6aa4ad8966517d529b3282f3df5c8237f6ab97c6c828dc8d0bcdfb4ce854c"
    )
    text = users_file([("a", "p1"), ("a", "p2"), ("b", "p3")], "users of x")
    lines = text.splitlines()
    assert lines[0] == "# users of x"
    assert lines[1] == "a," + hashlib.sha256(b"{a}p1").hexdigest()
    assert lines[2] == "a," + hashlib.sha256(b"{a}p2").hexdigest()
    assert all(" " not in line and line == line.strip() for line in lines[1:])
    assert text.endswith("\n")


def _store(uids):
    store = auth_store.empty_store()
    auth_store.ensure_hosts(store, uids)
    return store


def test_store_round_trip_plain_file_mode_0600(tmp_path):
    store = _store(["a", "b"])
    path = auth_store.store_path(str(tmp_path))
    auth_store.save_store(store, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    loaded = auth_store.load_store(path)
    assert loaded == store
    assert "private_key: |" in Path(path).read_text()


def test_store_round_trip_vault_encrypted(tmp_path):
    vault_file = tmp_path / "vault-pass"
    vault_file.write_text("correct horse\n")
    store = _store(["a", "b"])
    path = auth_store.store_path(str(tmp_path))
    auth_store.save_store(store, path, str(vault_file))
    raw = Path(path).read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert b"PRIVATE" not in raw and store.material(1, "a").seed.encode() not in raw
    assert auth_store.is_encrypted_file(path)
    assert auth_store.load_store(path, str(vault_file)) == store
    with pytest.raises(auth_store.StoreError, match="give --vault-password-file"):
        auth_store.load_store(path)
    vault_file.write_text("wrong\n")
    with pytest.raises(auth_store.StoreError, match="cannot decrypt"):
        auth_store.load_store(path, str(vault_file))


def test_store_missing_is_none_and_damaged_is_an_error_naming_the_file(tmp_path):
    path = str(tmp_path / "iperf3-auth.yml")
    assert auth_store.load_store(path) is None
    with open(path, "w") as stream:
        stream.write("schema: 1\nactive: 1\ngenerations: {1: {created: x, hosts: {a: {seed: s}}}}\n")
    with pytest.raises(auth_store.StoreError, match=r"iperf3-auth.yml: malformed entry"):
        auth_store.load_store(path)


def test_ensure_hosts_adds_missing_and_forgets_removed():
    store = _store(["a", "b"])
    key_a = store.material(1, "a").private_key
    added, removed = auth_store.ensure_hosts(store, ["a", "c"])
    assert (added, removed) == (["c"], ["b"])
    assert store.material(1, "a").private_key == key_a
    assert sorted(store.generations[1].hosts) == ["a", "c"]


# (listener, initiator) pairs: a full mesh of a, b, c in reverse mode has every ordered pair
MESH = {(x, y) for x in "abc" for y in "abc" if x != y}


def test_scoping_listener_gets_its_key_and_only_its_initiators_hashes():
    store = _store(list("abcd"))
    pairs = MESH | {("d", "a")}  # d listens for a only
    files = host_files(store, pairs, "d")
    assert files["listener.pem"] == store.material(1, "d").private_key
    users = [line for line in files["users.csv"].splitlines() if not line.startswith("#")]
    assert users == [f"a,{password_hash('a', pair_password(store.material(1, 'a').seed, 'd'))}"]
    assert not any(name.startswith("peers/") for name in files)  # d initiates nothing


def test_scoping_initiator_gets_public_keys_and_pair_passwords_only():
    store = _store(list("abc"))
    files = host_files(store, MESH, "a")
    assert sorted(files) == [
        "listener.pem",
        "peers/b.password",
        "peers/b.pem",
        "peers/c.password",
        "peers/c.pem",
        "users.csv",
    ]
    assert files["peers/b.pem"] == store.material(1, "b").public_key
    assert files["peers/b.password"] == pair_password(store.material(1, "a").seed, "b")


def test_no_host_can_impersonate_another():
    """What a compromised host holds (its files, plus every password sent to it, which its iperf3
    decrypts) is never accepted by another listener on behalf of another host."""
    store = _store(list("abcd"))
    pairs = {(x, y) for x in "abcd" for y in "abcd" if x != y}
    files = {uid: host_files(store, pairs, uid) for uid in "abcd"}
    for bad in "abcd":
        known = {content for content in files[bad].values()}
        # passwords other hosts present to `bad` as a listener
        known |= {pair_password(store.material(1, other).seed, bad) for other in "abcd" if other != bad}
        for listener in set("abcd") - {bad}:
            accepted = files[listener]["users.csv"]
            for other in set("abcd") - {bad, listener}:
                for secret in known:
                    assert f"{other},{password_hash(other, secret)}" not in accepted
            # nor another host's private key or any seed
            assert store.material(1, listener).private_key not in known
        assert not any(
            store.material(1, uid).seed in content for uid in "abcd" for content in files[bad].values()
        )


def test_rotation_phases_scope_old_and_new_material():
    store = _store(list("abc"))
    old = {uid: store.material(1, uid) for uid in "abc"}
    auth_store.begin_rotation(store)
    new = {uid: store.material(2, uid) for uid in "abc"}
    accept = host_files(store, MESH, "a")
    assert accept["listener.pem"] == old["a"].private_key  # the key changes only in the switch phase
    assert accept["peers/b.password"] == pair_password(old["a"].seed, "b")
    assert (accept["peers/b.pem"], accept["peers/b.alt.pem"]) == (old["b"].public_key, new["b"].public_key)
    for generation in (old, new):  # b's passwords of both generations are accepted by a
        line = f"b,{password_hash('b', pair_password(generation['b'].seed, 'a'))}"
        assert line in accept["users.csv"]
    auth_store.switch_rotation(store)
    switch = host_files(store, MESH, "a")
    assert switch["listener.pem"] == new["a"].private_key
    assert switch["peers/b.pem"] == new["b"].public_key
    assert switch["peers/b.alt.pem"] == old["b"].public_key
    assert switch["peers/b.password"] == pair_password(new["a"].seed, "b")
    assert switch["users.csv"] == accept["users.csv"]
    auth_store.finish_rotation(store)
    done = host_files(store, MESH, "a")
    assert sorted(store.generations) == [2] and store.active == 2 and store.rotation is None
    assert "peers/b.alt.pem" not in done
    assert f"b,{password_hash('b', pair_password(old['b'].seed, 'a'))}" not in done["users.csv"]
    assert f"b,{password_hash('b', pair_password(new['b'].seed, 'a'))}" in done["users.csv"]


def test_rotation_steps_out_of_order_are_refused():
    store = _store(["a"])
    with pytest.raises(auth_store.StoreError):
        auth_store.switch_rotation(store)
    auth_store.begin_rotation(store)
    with pytest.raises(auth_store.StoreError, match="already in progress"):
        auth_store.begin_rotation(store)
    with pytest.raises(auth_store.StoreError):
        auth_store.finish_rotation(store)


def test_rotation_state_survives_the_file(tmp_path):
    store = _store(["a", "b"])
    auth_store.begin_rotation(store)
    auth_store.ensure_hosts(store, ["a", "b", "c"])  # a host added mid-rotation gets both generations
    path = str(tmp_path / "s.yml")
    auth_store.save_store(store, path)
    loaded = auth_store.load_store(path)
    assert loaded.rotation == auth_store.Rotation(2, "accept")
    assert sorted(loaded.generations[1].hosts) == sorted(loaded.generations[2].hosts) == ["a", "b", "c"]


V312, V317, V318, V319, V320, V321 = (3, 12), (3, 17), (3, 18), (3, 19), (3, 20), (3, 21)


@pytest.mark.parametrize(
    ("listener", "initiator", "side"),
    [
        (V312, V312, None),
        (V318, V318, None),
        (V321, V318, None),
        (V318, V321, None),
        (V318, V312, "listener"),  # 3.12 -> 3.18: the listener pads with PKCS#1
        (V321, V312, "listener"),
        (V312, V318, "initiator"),  # Debian 13's 3.18 client with --use-pkcs1-padding -> 3.12: OK
        (V312, V317, "initiator"),
        (V312, V319, "initiator"),
    ],
)
def test_compatible_pairs_and_who_pads(listener, initiator, side):
    rule = pair_auth(listener, initiator)
    assert rule.problem is None and rule.pkcs1_side == side


@pytest.mark.parametrize("initiator", [V320, V321])
def test_a_320_plus_initiator_cannot_reach_an_old_listener(initiator):
    rule = pair_auth(V312, initiator)
    assert not rule.pkcs1_padding
    assert "server-only since 3.20" in rule.problem and "upgrade the listener" in rule.problem


def test_too_old_for_authentication():
    assert "3.7 or later" in pair_auth((3, 6), V312).problem


def test_parse_version():
    assert parse_version("3.12") == (3, 12)
    assert parse_version("iperf 3.18.1 (cJSON 1.7.15)") == (3, 18)
    with pytest.raises(ValueError, match="like 3.12"):
        parse_version("unknown")


class _Edge:
    def __init__(self, src, dst, listener, initiator, group="g"):
        self.group, self.src, self.dst, self.listener, self.initiator = group, src, dst, listener, initiator


def test_plan_auth_flags_mixed_edges_and_reports_unsupported_ones_and_unknown_versions():
    edges = [
        _Edge("old", "new", "old", "new"),  # 3.21 initiator -> 3.12 listener: impossible
        _Edge("new", "old", "new", "old"),  # 3.12 initiator -> 3.21 listener: listener pads
        _Edge("old", "deb13", "old", "deb13"),  # 3.18 -> 3.12: initiator pads
        _Edge("old", "x", "old", "x"),  # x's version is unknown
    ]
    result = plan_auth(edges, {"old": V312, "new": V321, "deb13": V318, "x": None})
    assert result.pkcs1 == {("g", "new", "old"), ("g", "old", "deb13")}
    assert list(result.unsupported) == [("g", "old", "new")]
    assert any("edge old -> new left out: new cannot authenticate to old's" in w for w in result.warnings)
    assert any(w.startswith("iperf3 version unknown for x:") for w in result.warnings)
