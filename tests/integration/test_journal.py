"""persistence_durability journal: the commit journal makes an
acknowledgement durable (issue 15). kill -9 after PUBACKs, restart: every
acknowledged message is there, replayed from the journal."""

import os
import struct
import subprocess

import pytest

import tern_harness as h

JOURNAL_MAGIC = b"TJR2"


def _drain(c, timeout=0.7):
    out = []
    while True:
        try:
            out.append(c.recv_publish(timeout=timeout))
        except AssertionError:
            return out


def _journal(br):
    return os.path.join(br.data_dir, "journal")


def _offline_sub(br, raw, cid, topic):
    c = raw(br)
    c.connect(cid, clean=False)
    c.subscribe(topic, qos=1)
    c.disconnect()


@pytest.mark.tern_only
def test_kill9_after_puback_nothing_lost(broker, raw):
    """200 QoS 1 messages PUBACKed to an offline persistent session, then
    kill -9 before any checkpoint (5 s): after restart all 200 arrive, in
    order. (The page cache kept LMDB's unsynced commits: the journal's
    records are found already stored.)"""
    br = broker("persistence_durability journal\n", persistence=True)
    _offline_sub(br, raw, "j-sub", "j/t")
    p = raw(br)
    p.connect()
    for i in range(200):
        p.publish("j/t", b"m%d" % i, qos=1, pid=i + 1)
    with open(_journal(br), "rb") as f:
        head = f.read(16)
    assert head[:4] == JOURNAL_MAGIC, "the journal was written"
    br.kill9()
    br.start()
    br.wait_log(r"journal replayed records=0 batches=0 already_stored=[1-9]")
    info = subprocess.run([h.broker_bin(), "--store-info", "-c", br.conf_path],
                          capture_output=True, text=True, timeout=20)
    assert info.returncode == 0, info.stderr
    assert "journal: 4096.0 KiB file, 0 records applied by this open" in info.stdout
    assert os.path.exists(_journal(br)), "store-info beside a running tern keeps the journal"
    c = raw(br)
    assert c.connect("j-sub", clean=False).session_present == 1
    assert [m.payload for m in _drain(c)] == [b"m%d" % i for i in range(200)]


@pytest.mark.tern_only
def test_power_cut_lmdb_behind_journal_replayed(broker, raw):
    """A power cut between checkpoints: LMDB's unsynced pages never reached
    the disk. Simulated by putting back data.mdb as it was at the last
    checkpoint (a clean stop) after kill -9; the journal then holds the only
    copy of the 200 acknowledged messages, and the restart replays them."""
    br = broker("persistence_durability journal\n", persistence=True)
    _offline_sub(br, raw, "pc-sub", "pc/t")
    br.stop()
    data = os.path.join(br.data_dir, "data.mdb")
    with open(data, "rb") as f:
        at_checkpoint = f.read()
    br.start()
    p = raw(br)
    p.connect()
    for i in range(200):
        p.publish("pc/t", b"m%d" % i, qos=1, pid=i + 1)
    br.kill9()
    with open(data, "wb") as f:
        f.write(at_checkpoint)
    br.start()
    line = br.wait_log(r"journal replayed records=[1-9]\d* batches=\d+")
    assert line
    c = raw(br)
    assert c.connect("pc-sub", clean=False).session_present == 1
    assert [m.payload for m in _drain(c)] == [b"m%d" % i for i in range(200)]


@pytest.mark.tern_only
def test_journal_to_sync_switch_applies_records(broker, raw):
    """A store killed in journal mode and started with the default sync
    durability applies the journal first: nothing lost."""
    br = broker("persistence_durability journal\n", persistence=True)
    c = raw(br)
    c.connect("s-sub", clean=False)
    c.subscribe("s/t", qos=1)
    c.disconnect()
    p = raw(br)
    p.connect()
    for i in range(30):
        p.publish("s/t", b"%d" % i, qos=1, pid=i + 1)
    br.kill9()
    br.write_config("")
    br.start()
    c = raw(br)
    assert c.connect("s-sub", clean=False).session_present == 1
    assert [m.payload for m in _drain(c)] == [b"%d" % i for i in range(30)]
