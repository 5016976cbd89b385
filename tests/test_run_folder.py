"""A training run's folder: what a kill can leave behind is resumable, a user's folder is not touched."""

from __future__ import annotations

import pytest

from traitrl.errors import UserError
from traitrl.locks import LOCK_FILE
from traitrl.train.run_folder import RUN_FILE, check_owner


def test_a_folder_killed_while_claiming_it_is_resumable(tmp_path):
    # what `traitrl run` killed in its first second leaves: scenario data, the lock, run.json's temporary file
    (tmp_path / "data").mkdir()
    (tmp_path / LOCK_FILE).write_text("pid")
    (tmp_path / f".{RUN_FILE}.k2j3h4.tmp").write_text('{"key": ')
    check_owner(tmp_path)


@pytest.mark.parametrize("name", ["config.yaml", "notes.txt", ".config.yaml.abc.tmp"])
def test_a_folder_with_anything_else_and_no_run_file_is_refused(tmp_path, name):
    (tmp_path / LOCK_FILE).write_text("pid")
    (tmp_path / name).write_text("mine")
    with pytest.raises(UserError, match="not a traitrl training run"):
        check_owner(tmp_path)


def test_a_claimed_folder_passes(tmp_path):
    (tmp_path / RUN_FILE).write_text('{"key": "k"}')
    (tmp_path / "config.yaml").write_text("x")
    check_owner(tmp_path)
