"""The sweep cache: round trip, broken entries ignored and rewritten, unwritable folders."""

from __future__ import annotations

import os

import pytest

from cmsim.sweep.cache import Cache, default_root, open_cache
from cmsim.sweep.keys import task_key
from cmsim.sweep.points import MATCH, Row

ROW = Row("conv2d", "h=4,w=4", "opt", "m4-ideal", 1234, 100, 12.34, None, MATCH, 0.5)


def _cache(tmp_path, notes: list[str]) -> Cache:
    return Cache(tmp_path / "cache", notes.append)


def test_round_trip(tmp_path):
    notes: list[str] = []
    cache = _cache(tmp_path, notes)
    key = task_key("elf", "board", {"kernel": "conv2d"})
    assert cache.get(key) is None
    cache.put(key, [ROW])
    assert cache.get(key) == [ROW]
    assert not notes and cache.broken == 0
    assert not list(cache.path(key).parent.glob(".entry-*"))  # no staging file left


def test_keys_change_with_every_ingredient():
    keys = {
        task_key("elf", "board", {"v": 1}),
        task_key("elf2", "board", {"v": 1}),
        task_key("elf", "board2", {"v": 1}),
        task_key("elf", "board", {"v": 2}),
    }
    assert len(keys) == 4


@pytest.mark.parametrize(
    "damage",
    [
        "",
        "{not json",
        '{"format": 1, "key": "other", "rows": []}',
        '{"format": 1, "key": "@KEY", "rows": [{"kernel": 1}]}',
        '{"format": 1, "key": "@KEY", "rows": "x"}',
        "\xff\xfe",
        "dir",
    ],
)
def test_broken_entries_are_reported_once_and_rewritten(tmp_path, damage):
    notes: list[str] = []
    cache = _cache(tmp_path, notes)
    keys = [task_key("elf", "board", {"n": n}) for n in range(3)]
    for key in keys:
        cache.put(key, [ROW])
    for key in keys[:2]:
        path = cache.path(key)
        if damage == "dir":
            path.unlink()
            path.mkdir()
        elif damage == "\xff\xfe":
            path.write_bytes(b"\xff\xfe\x00")
        else:
            path.write_text(damage.replace("@KEY", key))
    assert [cache.get(k) for k in keys] == [None, None, [ROW]]
    cache.report()
    assert len(notes) == 1 and notes[0].startswith("2 unreadable sweep cache entries")
    for key in keys[:2]:
        cache.put(key, [ROW])
        assert cache.get(key) == [ROW]


def test_a_file_where_a_folder_belongs_is_cleared(tmp_path):
    cache = _cache(tmp_path, [])
    key = task_key("elf", "board", {})
    cache.path(key).parent.parent.mkdir(parents=True)
    cache.path(key).parent.write_text("debris")
    assert cache.get(key) is None and cache.broken == 1
    cache.put(key, [ROW])
    assert cache.get(key) == [ROW]


def test_default_root_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "cmsim" / "sweep"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_root() == default_root().home() / ".cache" / "cmsim" / "sweep"


def test_unwritable_cache_falls_back_with_one_notice(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    notes: list[str] = []
    cache = open_cache(None, notes.append)
    assert len(notes) == 1 and "cannot write the sweep cache" in notes[0]
    assert cache.root != default_root() and os.access(cache.root, os.W_OK)
    notes.clear()
    chosen = open_cache(str(tmp_path / "mine"), notes.append)
    assert chosen.root == tmp_path / "mine" and not notes
