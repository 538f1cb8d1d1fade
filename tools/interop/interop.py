#!/usr/bin/env python3
"""QuicXDP interop runner.

Runs our client and our server against independent QUIC implementations between network
namespaces this script creates (and always deletes): aioquic (PyPI; its example
http3_server.py / http3_client.py, hq-interop via --legacy-http) and, for HTTP/3, ngtcp2's
gtlsserver / gtlsclient (Debian). Our side runs on AF_XDP and again on the UDP socket.

Two topologies. The direct cases (handshake, transfer, multiplexing, chacha20, keyupdate, v2,
resumption, zerortt) use one veth pair. The impaired cases (handshakeloss, transferloss,
handshakecorruption, transfercorruption, blackhole, longrtt, ecn, amplificationlimit, retry,
rebind-port, rebind-addr, ipv6, and relay variants of resumption, zerortt, keyupdate and v2)
put our impairment relay, quicxdp-relay, in a third namespace between client and server (this
kernel has no netem); they run our client against our server ("ours") and against aioquic.
connectionmigration runs directly: the server offers its second address as preferred_address
and the client must move there (ours against ours too).

Cases follow the QUIC interop runner's names. Every download is compared byte for byte with
the file served. A case a peer or our side does not support is reported "unsupported"
(exit 127 in the runner's convention), never as passed. One run per peer is captured and must
decode with tshark using our key log; the ecn, amplificationlimit and retry cases are judged
from a capture too.

Usage: tools/interop/interop.py [--quick] [--cases a,b] [--peers ours,aioquic-hq] [--datapaths afxdp,udp]
       [--binary PATH] [--relay PATH] [--json FILE] [--keep]
Needs root (namespaces, XDP). Installs its peers itself (pip into tools/interop/.venv, apt-get).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tools", "interop")
VENV = os.path.join(HERE, ".venv")
AIOQUIC_VERSION = "1.7.2"
EXAMPLES = os.path.join(HERE, ".aioquic-examples")
WORK = os.path.join(ROOT, "out", "interop")
PORT = 4433
SERVER_V4, CLIENT_V4 = "10.77.0.1", "10.77.0.2"
SERVER_V6, CLIENT_V6 = "fd00:77::1", "fd00:77::2"
# The server's second address, offered as its preferred address (connectionmigration).
SERVER2_V4, SERVER2_V6 = "10.77.0.11", "fd00:77::11"
# The relayed topology: client ── relay (two sides) ── server, on two veth pairs.
RELAYED = {
    "client": ("10.78.1.2", "fd00:78:1::2"), "client2": ("10.78.1.3", "fd00:78:1::3"),
    "relay_c": ("10.78.1.1", "fd00:78:1::1"), "relay_c2": ("10.78.1.4", "fd00:78:1::4"),
    "relay_s": ("10.78.2.1", "fd00:78:2::1"), "relay_s2": ("10.78.2.3", "fd00:78:2::3"),
    "server": ("10.78.2.2", "fd00:78:2::2"),
}
UNSUPPORTED = 127


def log(message):
    print(message, flush=True)


def run(args, check=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[:400]}")
    return result


# ---------------------------------------------------------------- setup

def setup_aioquic():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        log("interop: creating tools/interop/.venv")
        run([sys.executable, "-m", "venv", VENV])
    if run([python, "-c", f"import aioquic, starlette, jinja2, wsproto; assert aioquic.__version__ == '{AIOQUIC_VERSION}'"], check=False).returncode != 0:
        log(f"interop: installing aioquic {AIOQUIC_VERSION} from PyPI")
        run([python, "-m", "pip", "install", "-q", f"aioquic=={AIOQUIC_VERSION}", "starlette", "jinja2", "wsproto"])
    if not os.path.exists(os.path.join(EXAMPLES, "http3_server.py")):
        # The example programs ship only in the source distribution.
        download = os.path.join(HERE, ".download")
        os.makedirs(download, exist_ok=True)
        run([python, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", "-d", download, f"aioquic=={AIOQUIC_VERSION}"])
        archive = os.path.join(download, f"aioquic-{AIOQUIC_VERSION}.tar.gz")
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/examples/" in m.name]
            tar.extractall(download, members=members, filter="data")
        shutil.rmtree(EXAMPLES, ignore_errors=True)
        shutil.copytree(os.path.join(download, f"aioquic-{AIOQUIC_VERSION}", "examples"), EXAMPLES)
    return python


def setup_ngtcp2():
    if shutil.which("gtlsclient") and shutil.which("gtlsserver"):
        return
    log("interop: installing ngtcp2-client and ngtcp2-server (Debian)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "install", "-y", "-qq", "ngtcp2-client", "ngtcp2-server"], env=env)


def sans():
    addresses = [SERVER_V4, SERVER_V6] + [a for pair in RELAYED.values() for a in pair]
    return "DNS:server.test," + ",".join(f"IP:{a}" for a in addresses)


def pki_is_current(cert, extension):
    """A cached certificate is reused only if it has our current names and a day to live."""
    if not os.path.exists(cert) or not os.path.exists(extension):
        return False
    with open(extension) as f:
        if sans() not in f.read():
            return False
    return run(["openssl", "x509", "-in", cert, "-noout", "-checkend", "86400"], check=False).returncode == 0


def make_pki(directory):
    """A P-256 CA and server certificate (server.pem, server.key, ca.pem), and big-chain.pem: the
    same key under three RSA-4096 intermediates, about 5 kB of certificates, more than three
    times a client's first Initial (the amplificationlimit case)."""
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, "server.pem")
    ext = os.path.join(directory, "server.ext")
    if pki_is_current(cert, ext) and os.path.exists(os.path.join(directory, "big-chain.pem")):
        return
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "30", "-subj", "/CN=QuicXDP interop CA"])
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=server.test"])
    with open(ext, "w") as f:
        f.write(f"subjectAltName={sans()}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "30", "-extfile", ext])
    # The big chain: CA -> RSA-4096 intermediates 1..3 -> the same server key.
    ca_ext = os.path.join(directory, "intermediate.ext")
    with open(ca_ext, "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    issuer_key, issuer_cert, chain = ca_key, ca, []
    for index in (1, 2, 3):
        ikey, icsr, icert = (os.path.join(directory, f"intermediate{index}.{suffix}") for suffix in ("key", "csr", "pem"))
        run(["openssl", "req", "-newkey", "rsa:4096", "-nodes", "-keyout", ikey, "-out", icsr,
             "-subj", f"/O=QuicXDP interop test hierarchy/OU=amplification limit test/CN=QuicXDP interop intermediate {index}"])
        run(["openssl", "x509", "-req", "-in", icsr, "-CA", issuer_cert, "-CAkey", issuer_key, "-CAcreateserial",
             "-out", icert, "-days", "30", "-extfile", ca_ext])
        chain.insert(0, icert)
        issuer_key, issuer_cert = ikey, icert
    big_leaf = os.path.join(directory, "big-leaf.pem")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", issuer_cert, "-CAkey", issuer_key, "-CAcreateserial",
         "-out", big_leaf, "-days", "30", "-extfile", ext])
    with open(os.path.join(directory, "big-chain.pem"), "w") as out:
        for part in [big_leaf] + chain:
            with open(part) as f:
                out.write(f.read())


# ---------------------------------------------------------------- network

def veth_checksum_off(ns, dev):
    # veth's checksum offload leaves partial UDP checksums that AF_XDP would see.
    run(["nsenter", f"--net=/var/run/netns/{ns}", "ethtool", "-K", dev, "tx", "off"], check=False)


class Namespaces:
    """Two namespaces joined by a one-queue veth pair; deleted by close() on every path.
    The client talks to the server directly."""
    relay = None

    def __init__(self):
        tag = "%06x" % random.randrange(1 << 24)
        self.server, self.client = f"qxi-{tag}-s", f"qxi-{tag}-c"
        self.server_dev, self.client_dev = f"qis{tag}", f"qic{tag}"
        self.server_v4, self.server_v6 = SERVER_V4, SERVER_V6
        self.namespaces, self.links = [self.server, self.client], [self.server_dev]
        try:
            run(["ip", "netns", "add", self.server])
            run(["ip", "netns", "add", self.client])
            run(["ip", "link", "add", self.server_dev, "numrxqueues", "1", "numtxqueues", "1", "type", "veth", "peer", "name",
                 self.client_dev, "numrxqueues", "1", "numtxqueues", "1"])
            self.place(self.server, self.server_dev, [SERVER_V4 + "/24", SERVER_V6 + "/64", SERVER2_V4 + "/24", SERVER2_V6 + "/64"])
            self.place(self.client, self.client_dev, [CLIENT_V4 + "/24", CLIENT_V6 + "/64"])
        except Exception:
            self.close()
            raise

    def place(self, ns, dev, addresses):
        run(["ip", "link", "set", dev, "netns", ns])
        for address in addresses:
            run(["ip", "-n", ns, "addr", "add", address, "dev", dev] + (["nodad"] if ":" in address else []))
        run(["ip", "-n", ns, "link", "set", dev, "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        veth_checksum_off(ns, dev)

    def target(self, ipv6=False):
        """The address the client sends to."""
        return self.server_v6 if ipv6 else self.server_v4

    def enter(self, ns):
        return ["nsenter", f"--net=/var/run/netns/{ns}"]

    def close(self):
        for ns in self.namespaces:
            run(["ip", "netns", "del", ns], check=False)
        for link in self.links:
            run(["ip", "link", "del", link], check=False)
        for link in getattr(self, "xdp_links", [self.server_dev, self.client_dev]):
            shutil.rmtree(f"/sys/fs/bpf/quicxdp/{link}", ignore_errors=True)


class RelayedNamespaces(Namespaces):
    """client ── relay ── server: three namespaces and two one-queue veth pairs. The client
    sends to the relay's client side; quicxdp-relay forwards to the server from its own socket
    (so the server sees the relay's address) and impairs both directions."""

    def __init__(self):
        tag = "%06x" % random.randrange(1 << 24)
        self.server, self.relay, self.client = f"qxr-{tag}-s", f"qxr-{tag}-r", f"qxr-{tag}-c"
        self.client_dev, self.relay_client_dev = f"qrc{tag}", f"qra{tag}"
        self.relay_server_dev, self.server_dev = f"qrb{tag}", f"qrs{tag}"
        self.server_v4, self.server_v6 = RELAYED["server"]
        self.namespaces = [self.server, self.relay, self.client]
        self.links = [self.client_dev, self.server_dev]
        self.xdp_links = [self.server_dev, self.client_dev]
        try:
            for ns in self.namespaces:
                run(["ip", "netns", "add", ns])
            for a, b in ((self.client_dev, self.relay_client_dev), (self.relay_server_dev, self.server_dev)):
                run(["ip", "link", "add", a, "numrxqueues", "1", "numtxqueues", "1", "type", "veth", "peer", "name", b,
                     "numrxqueues", "1", "numtxqueues", "1"])

            def addresses(*names):
                return [f"{RELAYED[n][0]}/24" for n in names] + [f"{RELAYED[n][1]}/64" for n in names]
            self.place(self.client, self.client_dev, addresses("client", "client2"))
            self.place(self.relay, self.relay_client_dev, addresses("relay_c", "relay_c2"))
            self.place(self.relay, self.relay_server_dev, addresses("relay_s", "relay_s2"))
            self.place(self.server, self.server_dev, addresses("server"))
        except Exception:
            self.close()
            raise

    def target(self, ipv6=False):
        return RELAYED["relay_c"][1 if ipv6 else 0]

    def relay_args(self, binary, impairments, ipv6=False, listen="relay_c"):
        def endpoint(name):
            address = RELAYED[name][1 if ipv6 else 0]
            return f"[{address}]:{PORT}" if ipv6 else f"{address}:{PORT}"
        return self.enter(self.relay) + [binary, "--listen", endpoint(listen), "--upstream", endpoint("server"),
                                         "--stats-interval", "1s"] + impairments


class Process:
    """A child process we started; stopped by PID."""

    def __init__(self, args, log_path, env=None, cwd=None):
        self.log_path = log_path
        self.log_file = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                if re.search(pattern, f.read()):
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


# ---------------------------------------------------------------- cases

def random_file(path, size):
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            chunk = min(remaining, 1 << 20)
            f.write(os.urandom(chunk))
            remaining -= chunk


def small_files(prefix, count, size=1000):
    return [(f"{prefix}{index}.bin", size + index) for index in range(count)]


# name: files, and what each side must do. "relay": the case runs through quicxdp-relay with
# these impairments (both directions); "{relay_s2}" stands for the relay's second upstream
# address. "each_connection": every file over its own connection. "capture": judged from a
# capture on the server's interface too. "preferred_address": the server offers its second
# address as preferred_address and the client must move there (the QUIC interop runner's
# connectionmigration), judged from our side's report of the path it ended on. "server_follows":
# our server must have moved the connection to the client's new address at least once. Relay cases run
# for the peers in RELAY_PEERS, and for every peer when "all_peers" is set; "ours" runs the
# direct cases marked "ours_direct" too.
CASES = {
    "handshake": {"files": [("hs.bin", 1000)]},
    "transfer": {"files": [("t1m.bin", 1 << 20), ("t3m.bin", 3 << 20), ("t10m.bin", 10 << 20)]},
    "multiplexing": {"files": [(f"m{i}.bin", 1000 + 37 * i) for i in range(120)]},
    "chacha20": {"files": [("c.bin", 1 << 20)], "cipher": "chacha20"},
    "keyupdate": {"files": [("k.bin", 3 << 20)], "keyupdate": True, "relay": ["--delay", "5ms"], "all_peers": True},
    "v2": {"files": [("v2.bin", 1 << 20)], "version": 2, "relay": ["--delay", "5ms"], "all_peers": True},
    "resumption": {"files": [("r1.bin", 5000), ("r2.bin", 5000)], "second_connection": True, "relay": ["--delay", "5ms"],
                   "all_peers": True},
    "zerortt": {"files": [("z1.bin", 5000), ("z2.bin", 5000)], "second_connection": True, "zerortt": True,
                "relay": ["--delay", "5ms"], "all_peers": True},
    "handshakeloss": {"files": small_files("hl", 50), "each_connection": True, "relay": ["--loss", "30%", "--delay", "5ms"]},
    "transferloss": {"files": [("tl.bin", 2 << 20)], "relay": ["--loss", "2%", "--delay", "10ms"]},
    "handshakecorruption": {"files": small_files("hc", 50), "each_connection": True,
                            "relay": ["--corrupt", "30%", "--delay", "5ms"]},
    "transfercorruption": {"files": [("tc.bin", 2 << 20)], "relay": ["--corrupt", "2%", "--delay", "10ms"]},
    "blackhole": {"files": [("bh.bin", 8 << 20)], "relay": ["--rate", "20mbit", "--delay", "10ms", "--blackhole", "2s:1s"]},
    "longrtt": {"files": [("lr.bin", 2 << 20)], "relay": ["--delay", "375ms"]},
    "ecn": {"files": [("e.bin", 1 << 20)], "relay": ["--delay", "5ms"], "capture": "ecn"},
    "amplificationlimit": {"files": [("a.bin", 5000)], "relay": ["--delay", "25ms"], "chain": "big-chain.pem",
                           "capture": "amplification"},
    "retry": {"files": [("rt.bin", 5000)], "relay": ["--delay", "5ms"], "retry": True, "capture": "retry"},
    "rebind-port": {"files": [("rbp.bin", 10 << 20)], "relay": ["--rate", "40mbit", "--delay", "5ms", "--rebind-port", "1s"],
                    "server_follows": True},
    "rebind-addr": {"files": [("rba.bin", 10 << 20)],
                    "relay": ["--rate", "40mbit", "--delay", "5ms", "--rebind-addr", "{relay_s2}", "--rebind-addr-interval", "1s"],
                    "server_follows": True},
    "ipv6": {"files": [("v6.bin", 1 << 20)], "ipv6": True, "relay": ["--delay", "5ms"]},
    "connectionmigration": {"files": [("cm.bin", 5 << 20)], "preferred_address": True, "ours_direct": True},
}
QUICK_CASES = ["handshake", "transfer"]

AIOQUIC_NO_ECN = "aioquic neither sets ECN codepoints nor reports ECN counts in its ACK frames"
NGTCP2_V2 = "ngtcp2 0.12.1 (Debian) implements only a QUIC v2 draft, not RFC 9369"

AIOQUIC_NO_PREFERRED = "aioquic's server cannot offer a preferred_address (aioquic 1.7.2 has no option for it)"

# Which cases each peer can run, and why not the others (reported as unsupported). "ours" is
# our client against our server (relay cases only).
PEERS = {
    "ours": {"alpn": "h3", "unsupported": {}},
    "aioquic-hq": {"alpn": "hq-interop", "unsupported": {
        ("ecn", "server"): AIOQUIC_NO_ECN, ("ecn", "client"): AIOQUIC_NO_ECN,
        ("connectionmigration", "client"): AIOQUIC_NO_PREFERRED}},
    "aioquic-h3": {"alpn": "h3", "unsupported": {
        ("ecn", "server"): AIOQUIC_NO_ECN, ("ecn", "client"): AIOQUIC_NO_ECN,
        ("connectionmigration", "client"): AIOQUIC_NO_PREFERRED}},
    "ngtcp2-h3": {"alpn": "h3", "unsupported": {("v2", "server"): NGTCP2_V2, ("v2", "client"): NGTCP2_V2}},
}
QUICK_PEERS = ["aioquic-hq", "ngtcp2-h3"]
RELAY_PEERS = ["ours", "aioquic-hq"]


class Runner:
    def __init__(self, args):
        self.args = args
        # One directory per invocation, so concurrent runs never share files.
        self.runs = os.path.join(WORK, time.strftime("run-%Y%m%d-%H%M%S") + f"-{os.getpid()}")
        self.binary = args.binary
        self.relay_binary = args.relay
        self.results = []
        self.captured = set()

    # -- our side
    def our_server(self, ns, datapath, www, keylog, spec):
        chain = spec.get("chain", "server.pem")
        args = ns.enter(ns.server) + [self.binary, "serve", "--listen", f"[::]:{PORT}", "--cert", self.pki(chain),
                                      "--key", self.pki("server.key"), "--root", www, "--keylog", keylog,
                                      "--qlog-dir", os.path.join(os.path.dirname(www), "qlog-server")]
        if datapath == "afxdp":
            args += ["--dev", ns.server_dev, "--datapath", "afxdp"]
        else:
            args += ["--datapath", "udp"]
        if spec.get("retry"):
            args += ["--retry"]
        if spec.get("version") == 2:
            # Clients that start in v1 and offer v2 (aioquic --negotiate-v2) are switched to it.
            args += ["--prefer-version", "2"]
        if spec.get("preferred_address"):
            args += ["--preferred-address", SERVER2_V4]
        if spec.get("preferred_address") or spec.get("server_follows"):
            # The log names the path each connection ended on.
            args += ["--verbose"]
        return args

    def our_client(self, ns, datapath, urls, out, keylog, case, session, alpn):
        args = ns.enter(ns.client) + [self.binary, "get"] + urls + ["--ca", self.pki("ca.pem"), "--output", out,
                                                                  "--keylog", keylog, "--alpn", alpn,
                                                                  "--qlog-dir", os.path.join(os.path.dirname(out), "qlog-client")]
        if datapath == "afxdp":
            args += ["--dev", ns.client_dev, "--datapath", "afxdp"]
        else:
            args += ["--datapath", "udp"]
        spec = CASES[case]
        if spec.get("cipher"):
            args += ["--cipher", spec["cipher"]]
        if spec.get("keyupdate"):
            args += ["--key-update"]
        if spec.get("version"):
            args += ["--version", str(spec["version"])]
        if session:
            args += ["--session", session]
            if spec.get("zerortt"):
                args += ["--zero-rtt"]
        return args

    def pki(self, name):
        return os.path.join(WORK, "pki", name)

    # -- aioquic
    def aioquic_server(self, ns, www, keylog, spec):
        args = ns.enter(ns.server) + ["env", f"STATIC_ROOT={www}", self.python, os.path.join(EXAMPLES, "http3_server.py"),
                                      "--certificate", self.pki(spec.get("chain", "server.pem")), "--private-key",
                                      self.pki("server.key"), "--host", "::", "--port", str(PORT), "--secrets-log", keylog]
        if spec.get("retry"):
            args += ["--retry"]
        return args

    def aioquic_client(self, ns, urls, out, case, session, alpn):
        spec = CASES[case]
        args = ns.enter(ns.client) + [self.python, os.path.join(EXAMPLES, "http3_client.py"), "--ca-certs",
                                      self.pki("ca.pem"), "--output-dir", out] + urls
        if alpn == "hq-interop":
            args += ["--legacy-http"]
        if spec.get("cipher"):
            args += ["--cipher-suites", "CHACHA20_POLY1305_SHA256"]
        if spec.get("keyupdate"):
            args += ["--key-update"]
        if spec.get("version") == 2:
            args += ["--negotiate-v2"]
        if session:
            args += ["--session-ticket", session]
            if spec.get("zerortt"):
                args += ["--zero-rtt"]
        return args

    # -- ngtcp2 (GnuTLS examples from Debian; HTTP/3 only)
    def ngtcp2_server(self, ns, www, spec):
        # gtlsserver's "::" is an IPv6-only socket; the clients use the IPv4 address.
        args = ns.enter(ns.server) + ["gtlsserver", ns.server_v4, str(PORT), self.pki("server.key"), self.pki("server.pem"),
                                      "-d", www, "-q"]
        if spec.get("preferred_address"):
            args += [f"--preferred-ipv4-addr={SERVER2_V4}:{PORT}"]
        return args

    def ngtcp2_client(self, ns, urls, out, case, session, directory):
        spec = CASES[case]
        args = ns.enter(ns.client) + ["gtlsclient", ns.target(), str(PORT)] + urls + ["--download", out,
                                                                                "--exit-on-all-streams-close", "-q"]
        if spec.get("cipher"):
            args += ["--ciphers", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305"]
        if spec.get("keyupdate"):
            args += ["--key-update=100ms"]
        if session:
            args += ["--session-file", session, "--tp-file", session + ".tp"]
            if not spec.get("zerortt"):
                args += ["--disable-early-data"]
        return args

    def start_server(self, peer, our_role, ns, datapath, www, keylog, directory, spec):
        log_path = os.path.join(directory, "server.log")
        if peer == "ours" or our_role == "server":
            server = Process(self.our_server(ns, datapath, www, keylog, spec), log_path)
            ready = server.wait_for(r"ready:", 15)
        elif peer.startswith("aioquic"):
            server = Process(self.aioquic_server(ns, www, os.path.join(directory, "server-keys.log"), spec), log_path,
                             cwd=EXAMPLES)
            ready = server.wait_for(r"Listening|listening|Running", 15) or (time.sleep(2) or server.proc.poll() is None)
        else:
            server = Process(self.ngtcp2_server(ns, www, spec), log_path)
            ready = server.wait_for(r"document root", 10) or (time.sleep(1) or server.proc.poll() is None)
        if not ready:
            server.stop()
            raise RuntimeError("server did not start: " + open(log_path).read()[-500:])
        return server

    def client_args(self, peer, our_role, ns, datapath, batch, out, keylog, case, session, directory):
        alpn = PEERS[peer]["alpn"]
        if peer == "ours":
            # Our client on the UDP socket against our server on `datapath`.
            return self.our_client(ns, "udp", batch, out, keylog, case, session, alpn)
        if our_role == "client":
            return self.our_client(ns, datapath, batch, out, keylog, case, session, alpn)
        if peer.startswith("aioquic"):
            return self.aioquic_client(ns, batch, out, case, session, alpn)
        return self.ngtcp2_client(ns, batch, out, case, session, directory)

    def run_case(self, peer, our_role, datapath, case):
        spec = CASES[case]
        role_name = "ours" if peer == "ours" else ("our-server" if our_role == "server" else "our-client")
        name = f"{case}/{peer}/{datapath}" if peer == "ours" else f"{case}/{peer}/{role_name}/{datapath}"
        reason = PEERS[peer]["unsupported"].get((case, our_role))
        runs = self.runs
        if reason:
            self.results.append({"case": case, "peer": peer, "our_role": our_role, "datapath": datapath,
                                 "outcome": "unsupported", "detail": reason, "goodput_mbit": None})
            log(f"  {'unsupported':11s} {name:48s} {'':>14s}  {reason}")
            return
        directory = os.path.join(runs, name.replace("/", "_"))
        shutil.rmtree(directory, ignore_errors=True)
        www, out = os.path.join(directory, "www"), os.path.join(directory, "downloads")
        for path in (www, out, os.path.join(directory, "qlog-client"), os.path.join(directory, "qlog-server")):
            os.makedirs(path)
        keylog = os.path.join(directory, "keys.log")
        for file, size in spec["files"]:
            random_file(os.path.join(www, file), size)
        relayed = "relay" in spec
        ns = RelayedNamespaces() if relayed else Namespaces()
        started = time.time()
        server = capture = relay = None
        outcome, detail, goodput = "FAIL", "", None
        try:
            server = self.start_server(peer, our_role, ns, datapath, www, keylog, directory, spec)
            if relayed:
                impairments = [a.replace("{relay_s2}", RELAYED["relay_s2"][1 if spec.get("ipv6") else 0]) for a in spec["relay"]]
                relay = Process(ns.relay_args(self.relay_binary, impairments, ipv6=spec.get("ipv6", False)),
                                os.path.join(directory, "relay.log"))
                if not relay.wait_for(r"listening on", 10):
                    raise RuntimeError("relay did not start: " + open(relay.log_path).read()[-500:])
            wants_capture = spec.get("capture") or (peer not in self.captured and (case == "transfer" or self.args.quick))
            if wants_capture:
                # Not on the server's own interface: packets XDP redirects to an AF_XDP socket never
                # reach the kernel's packet taps. Through the relay, its server-facing side sees what
                # the server received and sent; directly, the client's interface does.
                capture_path = os.path.join(directory, "capture.pcapng")
                where, device = (ns.relay, ns.relay_server_dev) if relayed else (ns.client, ns.client_dev)
                capture = Process(ns.enter(where) + ["tshark", "-q", "-i", device, "-w", capture_path, "-f",
                                                     f"udp port {PORT}"], os.path.join(directory, "tshark.log"))
                capture.wait_for(r"Capturing on", 10)
            host = ns.target(spec.get("ipv6", False))
            authority = f"[{host}]" if ":" in host else host
            urls = [f"https://{authority}:{PORT}/{file}" for file, _ in spec["files"]]
            connections = [urls]
            session = None
            if spec.get("second_connection"):
                connections = [urls[:1], urls[1:]]
                session = os.path.join(directory, "session.bin")
            elif spec.get("each_connection"):
                connections = [[url] for url in urls]
            client_logs = []
            self.client_seconds = 0.0
            for index, batch in enumerate(connections):
                args = self.client_args(peer, our_role, ns, datapath, batch, out, keylog, case, session, directory)
                client_started = time.time()
                result = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=EXAMPLES)
                self.client_seconds += time.time() - client_started
                client_log = result.stdout + result.stderr
                client_logs.append(client_log)
                with open(os.path.join(directory, f"client{index}.log"), "w") as f:
                    f.write(client_log)
                # Exit 127 means "unsupported" only when the program says so: nsenter and the shell
                # also exit 127 when they cannot run a program, and that is a failure.
                if result.returncode == UNSUPPORTED and re.search(r"\bunsupported\b", client_log, re.IGNORECASE) \
                        and "failed to execute" not in client_log and "No such file" not in client_log:
                    outcome, detail = "unsupported", client_log.strip().splitlines()[-1:]
                    break
                if result.returncode != 0:
                    raise RuntimeError(f"client (connection {index + 1} of {len(connections)}) exited {result.returncode}: "
                                       f"{client_log.strip()[-600:]}")
            else:
                # Byte-for-byte comparison of every file.
                for file, size in spec["files"]:
                    got = os.path.join(out, file)
                    if not os.path.exists(got):
                        raise RuntimeError(f"{file} was not downloaded")
                    if run(["cmp", "-s", got, os.path.join(www, file)], check=False).returncode != 0:
                        raise RuntimeError(f"{file} differs from the served file ({os.path.getsize(got)} of {size} bytes)")
                self.check_case_properties(case, peer, our_role, client_logs, directory)
                goodput = self.goodput(peer, our_role, client_logs, sum(size for _, size in spec["files"]))
                outcome = "ok"
            if capture:
                time.sleep(0.5)
                capture.stop()
                capture = None
                keys = keylog if os.path.exists(keylog) else None
                if spec.get("capture") == "ecn":
                    self.check_ecn(directory, keys, ns)
                elif spec.get("capture") == "amplification":
                    self.check_amplification(directory, ns)
                elif spec.get("capture") == "retry":
                    self.check_retry(directory)
                if peer not in self.captured:
                    self.check_capture(directory, keys, peer)
        except Exception as error:  # noqa: BLE001 — every failure is reported in the matrix
            detail = str(error)
            outcome = "FAIL"
        finally:
            if capture:
                capture.stop()
            if relay:
                relay.stop()
            if server:
                server.stop()
            ns.close()
        elapsed = time.time() - started
        if outcome == "ok" and not self.args.keep:
            shutil.rmtree(directory, ignore_errors=True)  # keep only what a failure needs looking at
        self.results.append({"case": case, "peer": peer, "our_role": our_role, "datapath": datapath, "outcome": outcome,
                             "detail": detail if isinstance(detail, str) else " ".join(detail),
                             "goodput_mbit": goodput, "seconds": round(elapsed, 1), "directory": directory})
        rate = f"{goodput:.1f} Mbit/s" if goodput else ""
        if outcome == "ok" and spec.get("each_connection"):
            rate = f"{len(spec['files'])} conns {self.client_seconds:.0f} s"
        log(f"  {outcome:11s} {name:48s} {rate:>14s}  "
            f"{'' if outcome == 'ok' else (detail if isinstance(detail, str) else ' '.join(detail))[:300]}")

    def check_case_properties(self, case, peer, our_role, client_logs, directory):
        """What the case must show beyond the bytes: the negotiated suite, version, resumption, 0-RTT."""
        spec = CASES[case]
        text = "\n".join(client_logs)
        if peer == "ours" or our_role == "client":
            if spec.get("cipher") and "CHACHA20" not in text:
                raise RuntimeError("ChaCha20 was not negotiated")
            if spec.get("version") == 2 and "QUIC v2" not in text:
                raise RuntimeError("QUIC v2 was not used")
            if spec.get("second_connection") and ", resumed" not in client_logs[-1]:
                raise RuntimeError("the second connection was not resumed")
            if spec.get("zerortt") and "0-RTT accepted" not in client_logs[-1]:
                raise RuntimeError("0-RTT was not accepted")
            if spec.get("keyupdate") and not re.search(r"key updates [1-9]\d* started", text):
                raise RuntimeError("no key update was started")
        else:
            if spec.get("version") == 2 and "0x6b3343cf" not in text and "VERSION_2" not in text:
                raise RuntimeError("aioquic did not negotiate QUIC v2")
        if spec.get("preferred_address") and our_role in ("client", "both"):
            line = next((l for l in text.splitlines() if l.startswith("path: ")), "(no path line)")
            if "(the server's preferred address)" not in line:
                raise RuntimeError(f"our client did not move to the preferred address: {line}")
        if spec.get("preferred_address") and our_role in ("server", "both"):
            line = self.our_server_closed_line(directory)
            if f"local {SERVER2_V4}:{PORT} (our preferred address)" not in line:
                raise RuntimeError(f"the {peer} client did not move to our preferred address: {line}")
            log(f"  path        {line}")
        if spec.get("server_follows") and our_role in ("server", "both"):
            line = self.our_server_closed_line(directory)
            migrations = re.search(r", (\d+) path migrations?,", line)
            if not migrations or int(migrations.group(1)) == 0:
                raise RuntimeError(f"our server never followed the client's new address: {line}")
            log(f"  path        {line}")

    def our_server_closed_line(self, directory):
        """Our server's "connection closed" log line (serve --verbose): the path the connection
        ended on. The client's CONNECTION_CLOSE may reach the server just after the client exits."""
        deadline = time.time() + 3
        while time.time() < deadline:
            with open(os.path.join(directory, "server.log")) as f:
                closed = [l for l in f.read().splitlines() if l.startswith("connection closed")]
            if closed:
                return closed[-1]
            time.sleep(0.1)
        return "(no 'connection closed' line in the server log)"

    def goodput(self, peer, our_role, client_logs, bytes_total=0):
        text = "\n".join(client_logs)
        if len(client_logs) > 1 or (our_role == "server" and peer.startswith("ngtcp2")):
            # Several connections, or a client that prints no rate: bytes over the client processes' wall time.
            return bytes_total * 8 / max(self.client_seconds, 1e-6) / 1e6
        if peer == "ours" or our_role == "client":
            match = re.findall(r"bytes in [\d.]+ s \(([\d.]+) Mbit/s\)", text)
            return float(match[-1]) if match else None
        rates = [(int(b), float(r)) for b, r in re.findall(r": (\d+) bytes in [\d.]+ s \(([\d.]+) Mbps\)", text)]
        return max(rates)[1] if rates else None

    def tshark_fields(self, directory, keys, fields, display="quic"):
        capture = os.path.join(directory, "capture.pcapng")
        if not os.path.exists(capture):
            raise RuntimeError("no capture")
        args = ["tshark", "-r", capture, "-Y", display, "-T", "fields", "-E", "separator=|"]
        if keys:
            args += ["-o", f"tls.keylog_file:{keys}"]
        for field in fields:
            args += ["-e", field]
        return [line.split("|") for line in run(args, check=False).stdout.splitlines() if line]

    def check_capture(self, directory, keylog, peer):
        if not keylog:
            raise RuntimeError("no key log to decode the capture with")
        rows = self.tshark_fields(directory, keylog, ["quic.frame_type"])
        types = set(t for row in rows for t in row[0].split(","))
        # 1-RTT STREAM frames (0x08-0x0f) and HANDSHAKE_DONE (0x1e) appear only if tshark decrypted.
        if not any(t in types for t in ("8", "9", "10", "11", "12", "13", "14", "15")) or "30" not in types:
            raise RuntimeError(f"tshark could not decrypt the capture with our key log (frame types seen: {sorted(types)[:12]})")
        self.captured.add(peer)
        log(f"  capture     {peer}: decoded with our key log ({len(rows)} QUIC packets)")

    def check_ecn(self, directory, keys, ns):
        """RFC 9000 §13.4: both sides mark their packets ECT(0) and report ECN counts in ACKs."""
        rows = self.tshark_fields(directory, keys, ["ip.src", "ip.dsfield.ecn", "quic.ack.ect0_count"])
        summary = {}
        for source, ecn, ect0 in rows:
            side = "server" if source == ns.server_v4 else "client"
            entry = summary.setdefault(side, {"packets": 0, "ect0": 0, "ack_counts": 0})
            entry["packets"] += 1
            entry["ect0"] += ecn == "2"
            entry["ack_counts"] += any(c not in ("", "0") for c in ect0.split(","))
        for side in ("client", "server"):
            entry = summary.get(side)
            if not entry:
                raise RuntimeError(f"no packets from the {side} in the capture")
            if entry["ect0"] < 0.9 * entry["packets"]:
                raise RuntimeError(f"the {side} marked {entry['ect0']} of {entry['packets']} datagrams ECT(0)")
            if entry["ack_counts"] == 0:
                raise RuntimeError(f"the {side}'s ACK frames carried no ECT(0) counts")
        log(f"  ecn         " + ", ".join(f"{side}: {e['ect0']}/{e['packets']} ECT(0), {e['ack_counts']} ACKs with counts"
                                       for side, e in sorted(summary.items())))

    def check_amplification(self, directory, ns):
        """RFC 9000 §8.1: before the client's address is validated (its first Handshake packet),
        the server sends at most three times what it received; and the certificate chain made the
        limit matter."""
        rows = self.tshark_fields(directory, None, ["ip.src", "udp.length", "quic.long.packet_type"], display="udp")
        received = sent = 0
        most = 0.0
        for source, length, types in rows:
            payload = int(length) - 8
            if source == ns.server_v4:
                sent += payload
                if sent > 3 * received:
                    raise RuntimeError(f"the server sent {sent} bytes after receiving {received} before validation")
                most = max(most, sent / max(received, 1))
            else:
                if "2" in types.split(","):
                    break  # the client's first Handshake packet validates its address
                received += payload
        else:
            raise RuntimeError("the capture shows no Handshake packet from the client")
        if most < 2.5:
            raise RuntimeError(f"the server never came near the limit (at most {most:.2f}x); the chain is too small to test it")
        log(f"  amplification: the server sent up to {most:.2f}x what it had received before validation (limit 3x)")

    def check_retry(self, directory):
        rows = self.tshark_fields(directory, None, ["quic.long.packet_type"], display="quic.long.packet_type == 3")
        if not rows:
            raise RuntimeError("no Retry packet in the capture")

    def run_all(self):
        cases = QUICK_CASES if self.args.quick else (self.args.cases.split(",") if self.args.cases else list(CASES))
        for case in cases:
            if case not in CASES:
                raise SystemExit(f"interop: unknown case {case}; choose from {', '.join(CASES)}")
        datapaths = self.args.datapaths.split(",")
        explicit = self.args.peers.split(",") if self.args.peers else None
        peers = QUICK_PEERS if self.args.quick and not explicit else (explicit or list(PEERS))
        for peer in peers:
            if peer not in PEERS:
                raise SystemExit(f"interop: unknown peer {peer}; choose from {', '.join(PEERS)}")
        self.python = setup_aioquic() if any(p.startswith("aioquic") for p in peers) else None
        if any(p.startswith("ngtcp2") for p in peers):
            setup_ngtcp2()
        if any("relay" in CASES[c] for c in cases) and not os.access(self.relay_binary, os.X_OK):
            raise SystemExit(f"interop: {self.relay_binary} is missing; build it with `swift build -c release --product quicxdp-relay`")
        make_pki(os.path.join(WORK, "pki"))
        for peer in peers:
            roles = ("both",) if peer == "ours" else ("server", "client")
            for role in roles:
                for datapath in datapaths:
                    for case in cases:
                        spec = CASES[case]
                        if peer == "ours" and "relay" not in spec and not spec.get("ours_direct"):
                            continue  # ours against ours only through the relay
                        if "relay" in spec and not spec.get("all_peers") and peer not in RELAY_PEERS \
                                and not (explicit and peer in explicit):
                            continue
                        if self.args.quick and role == "client" and datapath == "afxdp" and case != "handshake":
                            continue
                        self.run_case(peer, role, datapath, case)


def main():
    # SIGTERM/SIGINT become SystemExit, so every finally block (namespaces, peer processes) runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short subset `make test` runs")
    parser.add_argument("--cases", help="comma-separated case names: " + ",".join(CASES))
    parser.add_argument("--peers", help="comma-separated: " + ",".join(PEERS))
    parser.add_argument("--datapaths", default="afxdp,udp")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "quicxdp"))
    parser.add_argument("--relay", help="quicxdp-relay (default: next to --binary)")
    parser.add_argument("--json", default=os.path.join(WORK, "results.json"))
    parser.add_argument("--keep", action="store_true", help="keep the files of passing cases too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        log("interop: skipped — needs root (network namespaces, XDP); run `sudo make interop`")
        return 0
    args.binary = os.path.abspath(args.binary)
    args.relay = os.path.abspath(args.relay or os.path.join(os.path.dirname(args.binary), "quicxdp-relay"))
    if not os.access(args.binary, os.X_OK):
        log(f"interop: {args.binary} is missing; build it with `swift build -c release --product quicxdp`")
        return 2
    os.makedirs(WORK, exist_ok=True)
    runner = Runner(args)
    log(f"interop: {args.binary}")
    runner.run_all()
    with open(args.json, "w") as f:
        json.dump(runner.results, f, indent=2)
    failed = [r for r in runner.results if r["outcome"] == "FAIL"]
    ok = sum(r["outcome"] == "ok" for r in runner.results)
    unsupported = sum(r["outcome"] == "unsupported" for r in runner.results)
    log(f"interop: {ok} ok, {len(failed)} failed, {unsupported} unsupported; results in {args.json}"
        + (f"; failed runs' files in {runner.runs}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
