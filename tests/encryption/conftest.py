import shutil
from pathlib import Path

import pytest

from anke.encryption.keyring import keyring
from tests.scratch_db import database_url  # noqa: F401 - a fixture for tests here


@pytest.fixture
def private_key_file(settings, tmp_path):
    """A copy of the suite's key file for tests that rotate keys, so other tests keep theirs."""
    keyring()  # the suite's file exists once it was first used
    copy = tmp_path / "keys" / "master.json"
    copy.parent.mkdir(mode=0o700)
    shutil.copy2(settings.MASTER_KEY_FILE, copy)
    settings.MASTER_KEY_FILE = str(copy)
    return Path(copy)
