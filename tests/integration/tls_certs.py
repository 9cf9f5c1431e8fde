"""Test certificates made at run time with the openssl CLI (no fixtures in
the tree, nothing that expires in the repository).

make_pki(dir) builds, with `openssl ca` so that validity dates and
revocation can be set exactly:
  ca.pem / ca.key          the test CA (EC P-256)
  other-ca.pem             an unrelated CA (wrong-CA tests)
  server.pem / server.key  CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  server2.pem / .key       the same names, a new key (rotation tests)
  alice.pem, bob.pem       client certificates (CN=alice, CN=bob)
  expired.pem              CN=old, valid 2020-01-01 .. 2020-02-01
  revoked.pem              CN=gone, revoked in crl.pem
  crl.pem                  the CA's CRL (30 days)
Every file is PEM; keys are unencrypted.
"""

import os
import subprocess

CA_CONF = """
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
crlnumber = {dir}/crlnumber
certificate = {dir}/ca.pem
private_key = {dir}/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = any_policy
unique_subject = no
copy_extensions = copy
[ any_policy ]
commonName = supplied
[ server_ext ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ client_ext ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
"""


def _run(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args),
                                                        r.stderr.decode(errors="replace")))
    return r


def _key(path):
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def _self_signed(d, name, cn):
    _key(os.path.join(d, name + ".key"))
    _run("req", "-x509", "-new", "-key", os.path.join(d, name + ".key"), "-days", "30",
         "-subj", "/CN=" + cn, "-out", os.path.join(d, name + ".pem"))


def issue(d, name, cn, ext, startdate=None, enddate=None):
    """Issue name.pem/name.key signed by the test CA in d."""
    key = os.path.join(d, name + ".key")
    csr = os.path.join(d, name + ".csr")
    _key(key)
    _run("req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr)
    args = ["ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-extensions", ext,
            "-in", csr, "-out", os.path.join(d, name + ".pem"), "-notext"]
    if startdate:
        args += ["-startdate", startdate]
    if enddate:
        args += ["-enddate", enddate]
    _run(*args)
    return os.path.join(d, name + ".pem"), key


def make_pki(d):
    os.makedirs(os.path.join(d, "newcerts"), exist_ok=True)
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CONF.format(dir=d))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("1000\n")
    _self_signed(d, "ca", "Tern Test CA")
    _self_signed(d, "other-ca", "Unrelated CA")
    issue(d, "server", "localhost", "server_ext")
    issue(d, "server2", "localhost", "server_ext")
    for who in ("alice", "bob"):
        issue(d, who, who, "client_ext")
    issue(d, "expired", "old", "client_ext", startdate="20200101000000Z",
          enddate="20200201000000Z")
    issue(d, "revoked", "gone", "client_ext")
    _run("ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-revoke",
         os.path.join(d, "revoked.pem"))
    _run("ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-gencrl", "-out",
         os.path.join(d, "crl.pem"))
    return d


def path(d, name):
    return os.path.join(d, name)
