"""`lab up` raises fs.inotify.max_user_instances; the last `lab down` puts the machine's value back.

Runs on plain files standing in for the sysctl (same read/write interface).
"""

from __future__ import annotations

from hubkit.lab import prereq


def _sysctl(tmp_path, value: int):
    path = tmp_path / "max_user_instances"
    path.write_text(f"{value}\n")
    return path


def test_raise_records_the_machine_value_once_and_restore_puts_it_back(tmp_path):
    sysctl, record = _sysctl(tmp_path, 128), tmp_path / "run" / "orig"
    assert prereq.raise_inotify_limit(record, str(sysctl)) == 128
    assert int(sysctl.read_text()) == prereq.INOTIFY_INSTANCES and record.read_text() == "128\n"
    # A second lab finds the limit raised: nothing to do, the record keeps the machine's value.
    assert prereq.raise_inotify_limit(record, str(sysctl)) is None
    assert record.read_text() == "128\n"
    assert prereq.restore_inotify_limit(record, str(sysctl)) == (128, True)
    assert int(sysctl.read_text()) == 128 and not record.exists()
    assert prereq.restore_inotify_limit(record, str(sysctl)) is None


def test_a_limit_already_high_enough_is_neither_raised_nor_restored(tmp_path):
    sysctl, record = _sysctl(tmp_path, 8192), tmp_path / "orig"
    assert prereq.raise_inotify_limit(record, str(sysctl)) is None
    assert not record.exists() and int(sysctl.read_text()) == 8192
    assert prereq.restore_inotify_limit(record, str(sysctl)) is None


def test_a_value_changed_by_someone_else_is_left_alone(tmp_path):
    sysctl, record = _sysctl(tmp_path, 128), tmp_path / "orig"
    prereq.raise_inotify_limit(record, str(sysctl))
    sysctl.write_text("65536\n")  # an admin's own setting after `lab up`
    assert prereq.restore_inotify_limit(record, str(sysctl)) == (128, False)
    assert int(sysctl.read_text()) == 65536 and not record.exists()
