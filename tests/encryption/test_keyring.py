"""The key file: created safely, refused when too open, malformed or missing; versions rotate."""

import json
import stat

import pytest

from anke.encryption.keyring import ACTIVE, INDEX, MASTER, RETIRING, KeyFileError, Keyring


def test_first_start_creates_a_private_key_file(tmp_path):
    path = tmp_path / "keys" / "master.json"
    ring = Keyring(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ring.active(MASTER).version == 1 and len(ring.active(MASTER).key) == 32
    assert ring.active(INDEX).key != ring.active(MASTER).key
    # Opening it again reads the same keys.
    assert Keyring(path, create=True).key(MASTER, 1) == ring.key(MASTER, 1)


def test_a_named_key_file_that_is_missing_is_refused(tmp_path):
    path = tmp_path / "mounted" / "master.json"
    with pytest.raises(KeyFileError, match="does not exist"):
        Keyring(path, create=False)
    assert not path.exists()


def test_a_key_file_readable_by_others_is_refused_with_path_and_mode(tmp_path):
    path = tmp_path / "master.json"
    Keyring(path, create=True)
    path.chmod(0o644)
    with pytest.raises(KeyFileError) as error:
        Keyring(path, create=False)
    assert str(path) in str(error.value) and "0644" in str(error.value)


@pytest.mark.parametrize("content, problem", [
    ("not json", "not a valid key file"),
    (json.dumps({"format": "other"}), "not a key file of format"),
    (json.dumps({"format": "anke-keys/1", "master": {}, "index": {}}), "has no master keys"),
    (json.dumps({"format": "anke-keys/1",
                 "master": {"1": {"key": "c2hvcnQ=", "status": "active"}},
                 "index": {"1": {"key": "c2hvcnQ=", "status": "active"}}}), "malformed"),
])
def test_a_malformed_key_file_is_refused(tmp_path, content, problem):
    path = tmp_path / "master.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=problem):
        Keyring(path, create=False)


def test_a_new_version_becomes_active_and_other_processes_see_it(tmp_path):
    path = tmp_path / "master.json"
    rotating, serving = Keyring(path, create=True), Keyring(path, create=False)
    rotating.add_version(MASTER, 2)
    rotating.add_version(MASTER, 2)  # a resumed rotation adds nothing more
    with pytest.raises(ValueError, match="does not follow"):
        rotating.add_version(MASTER, 4)
    # The serving process re-reads the changed file on its next use.
    assert serving.active(MASTER).version == 2
    assert serving.versions(MASTER)[1].status == RETIRING
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {v.status for v in serving.versions(INDEX).values()} == {ACTIVE}
