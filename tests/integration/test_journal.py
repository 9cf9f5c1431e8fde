"""persistence_durability journal: the commit journal makes an
acknowledgement durable (issue 15). kill -9 after PUBACKs, restart: every
acknowledged message is there, replayed from the journal."""

import os
import subprocess

import pytest

import tern_harness as h

JOURNAL_MAGIC = b"TJR2"


def _journal(br):
    return os.path.join(br.data_dir, "journal")


def _disk(br):
    """data.mdb and its checkpoint copy as they are on disk now (tern idle
    after a checkpoint: nothing unsynced in the page cache)."""
    out = {}
    for name in ("data.mdb", "checkpoint"):
        path = os.path.join(br.data_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def _put_disk(br, files):
    for name, data in files.items():
        with open(os.path.join(br.data_dir, name), "wb") as f:
            f.write(data)


def _torn(old, new, pattern, page=4096):
    """data.mdb after a power cut between checkpoints: the kernel wrote
    back the meta pages of the newest commit (pages 0 and 1, the worst
    case: LMDB then trusts them) and, per pattern, some of the other pages
    it had; the rest is what the last checkpoint synced, or zeros where the
    file had grown."""
    out = bytearray()
    for i in range(0, max(len(old), len(new)), page):
        n = i // page
        written_back = n < 2 or (pattern == "alternate" and n % 2 == 1)
        src = new if written_back else old
        chunk = src[i:i + page]
        out += chunk + bytes(page - len(chunk)) if len(chunk) < page else chunk
    return bytes(out[:len(new)])


@pytest.mark.tern_only
def test_kill9_after_puback_nothing_lost(broker, raw):
    """200 QoS 1 messages PUBACKed to an offline persistent session, then
    kill -9 before any checkpoint (5 s): after restart all 200 arrive, in
    order. (data.mdb is put back at the checkpoint of the open, whose pages
    were pinned, and the journal's records are applied again.)"""
    br = broker("persistence_durability journal\n", persistence=True)
    h.offline_subscriber(br, raw, "j-sub", "j/t")
    p = raw(br)
    p.connect()
    for i in range(200):
        p.publish("j/t", b"m%d" % i, qos=1, pid=i + 1)
    with open(_journal(br), "rb") as f:
        head = f.read(16)
    assert head[:4] == JOURNAL_MAGIC, "the journal was written"
    br.kill9()
    br.start()
    br.wait_log(r"not closed cleanly: data\.mdb back at its last checkpoint")
    br.wait_log(r"journal replayed records=[1-9]\d* batches=\d+ already_stored=0")
    info = subprocess.run([h.broker_bin(), "--store-info", "-c", br.conf_path],
                          capture_output=True, text=True, timeout=20)
    assert info.returncode == 0, info.stderr
    assert "journal: 4096.0 KiB file, 0 records applied by this open" in info.stdout
    assert os.path.exists(_journal(br)), "store-info beside a running tern keeps the journal"
    c = raw(br)
    assert c.connect("j-sub", clean=False).session_present == 1
    assert [m.payload for m in c.drain()] == [b"m%d" % i for i in range(200)]


@pytest.mark.tern_only
def test_power_cut_lmdb_behind_journal_replayed(broker, raw):
    """A power cut between checkpoints: LMDB's unsynced pages never reached
    the disk. Simulated by putting back data.mdb as it was at the last
    checkpoint (a clean stop) after kill -9; the journal then holds the only
    copy of the 200 acknowledged messages, and the restart replays them."""
    br = broker("persistence_durability journal\n", persistence=True)
    h.offline_subscriber(br, raw, "pc-sub", "pc/t")
    br.stop()
    at_checkpoint = _disk(br)
    br.start()
    p = raw(br)
    p.connect()
    for i in range(200):
        p.publish("pc/t", b"m%d" % i, qos=1, pid=i + 1)
    br.kill9()
    _put_disk(br, at_checkpoint)
    br.start()
    line = br.wait_log(r"journal replayed records=[1-9]\d* batches=\d+")
    assert line
    c = raw(br)
    assert c.connect("pc-sub", clean=False).session_present == 1
    assert [m.payload for m in c.drain()] == [b"m%d" % i for i in range(200)]


@pytest.mark.tern_only
@pytest.mark.parametrize("pattern", ["meta_only", "alternate"])
def test_power_cut_torn_writeback_restored_from_checkpoint(broker, raw, pattern):
    """A power cut between checkpoints after the kernel wrote back part of
    LMDB's unsynced pages, the newest meta pages among them: without
    store_ckpt, LMDB would open a tree whose pages never reached the disk,
    or whose last synced pages later commits had reused. tern puts the
    checkpoint's meta pages back (its pages were pinned, so they are intact)
    and the journal replays the 300 acknowledged messages."""
    br = broker("persistence_durability journal\n", persistence=True)
    h.offline_subscriber(br, raw, "tw-sub", "tw/t")
    p = raw(br)
    p.connect()
    for i in range(100):  # history whose pages later commits free and reuse
        p.publish("tw/t", b"h%d" % i, qos=1, pid=(i % 60000) + 1)
    c = raw(br)
    assert c.connect("tw-sub", clean=False).session_present == 1
    assert len(c.drain()) == 100
    c.disconnect()
    p.disconnect()
    br.stop()
    br.start()  # the open's checkpoint: the disk now is K
    at_checkpoint = _disk(br)
    p = raw(br)
    p.connect()
    payload = b"x" * 600
    for i in range(300):
        p.publish("tw/t", b"m%d " % i + payload, qos=1, pid=i + 1)
    br.kill9()
    with open(os.path.join(br.data_dir, "data.mdb"), "rb") as f:
        final = f.read()
    assert final != at_checkpoint["data.mdb"]
    torn = _torn(at_checkpoint["data.mdb"], final, pattern)
    with open(os.path.join(br.data_dir, "data.mdb"), "wb") as f:
        f.write(torn)
    br.start()
    assert br.wait_log(r"not closed cleanly: data\.mdb back at its last checkpoint")
    c = raw(br)
    assert c.connect("tw-sub", clean=False).session_present == 1
    got = [m.payload.split(b" ")[0] for m in c.drain()]
    assert got == [b"m%d" % i for i in range(300)]


@pytest.mark.tern_only
def test_journal_to_sync_switch_applies_records(broker, raw):
    """A store killed in journal mode and started with the default sync
    durability applies the journal first: nothing lost."""
    br = broker("persistence_durability journal\n", persistence=True)
    h.offline_subscriber(br, raw, "s-sub", "s/t")
    p = raw(br)
    p.connect()
    for i in range(30):
        p.publish("s/t", b"%d" % i, qos=1, pid=i + 1)
    br.kill9()
    br.write_config("")
    br.start()
    c = raw(br)
    assert c.connect("s-sub", clean=False).session_present == 1
    assert [m.payload for m in c.drain()] == [b"%d" % i for i in range(30)]
