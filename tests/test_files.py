from __future__ import annotations

import os
import stat

import pytest

from edgecls.core.files import atomic_path, write_text_atomic


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        written = write_text_atomic(tmp_path / "a.json", "{}\n")
        with atomic_path(tmp_path / "b.bin") as temporary:
            temporary.write_bytes(b"x")
    finally:
        os.umask(old)
    for path in (written, tmp_path / "b.bin"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]  # no temporary left


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = write_text_atomic(tmp_path / "model.json", "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["model.json"]
