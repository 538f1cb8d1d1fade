#!/usr/bin/env python3
"""QuicXDP interop runner.

Runs our client and our server against independent QUIC implementations over a veth pair
between two network namespaces this script creates (and always deletes): aioquic (PyPI; its
example http3_server.py / http3_client.py, hq-interop via --legacy-http) and, for HTTP/3,
ngtcp2's gtlsserver / gtlsclient (Debian). Our side runs on AF_XDP and again on the UDP socket.

Cases follow the QUIC interop runner's names. Every download is compared byte for byte with
the file served. A case a peer or our side does not support is reported "unsupported"
(exit 127 in the runner's convention), never as passed. One run per peer is captured on the
client's veth and must decode with tshark using our key log.

Usage: tools/interop/interop.py [--quick] [--cases a,b] [--peers aioquic] [--datapaths afxdp,udp]
       [--binary PATH] [--json FILE]
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


def make_pki(directory):
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, "server.pem")
    if os.path.exists(cert):
        return
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    ext = os.path.join(directory, "server.ext")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "30", "-subj", "/CN=QuicXDP interop CA"])
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=server.test"])
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:server.test,IP:{SERVER_V4},IP:{SERVER_V6}\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "30", "-extfile", ext])


# ---------------------------------------------------------------- network

class Namespaces:
    """Two namespaces joined by a one-queue veth pair; deleted by close() on every path."""

    def __init__(self):
        tag = "%06x" % random.randrange(1 << 24)
        self.server, self.client = f"qxi-{tag}-s", f"qxi-{tag}-c"
        self.server_dev, self.client_dev = f"qis{tag}", f"qic{tag}"
        try:
            run(["ip", "netns", "add", self.server])
            run(["ip", "netns", "add", self.client])
            run(["ip", "link", "add", self.server_dev, "numrxqueues", "1", "numtxqueues", "1", "type", "veth", "peer", "name",
                 self.client_dev, "numrxqueues", "1", "numtxqueues", "1"])
            for ns, dev, v4, v6 in ((self.server, self.server_dev, SERVER_V4, SERVER_V6),
                                    (self.client, self.client_dev, CLIENT_V4, CLIENT_V6)):
                run(["ip", "link", "set", dev, "netns", ns])
                run(["ip", "-n", ns, "addr", "add", v4 + "/24", "dev", dev])
                run(["ip", "-n", ns, "addr", "add", v6 + "/64", "dev", dev, "nodad"])
                run(["ip", "-n", ns, "link", "set", dev, "up"])
                run(["ip", "-n", ns, "link", "set", "lo", "up"])
                # veth's checksum offload leaves partial UDP checksums that AF_XDP would see.
                run(["nsenter", f"--net=/var/run/netns/{ns}", "ethtool", "-K", dev, "tx", "off"], check=False)
        except Exception:
            self.close()
            raise

    def enter(self, ns):
        return ["nsenter", f"--net=/var/run/netns/{ns}"]

    def close(self):
        for ns in (self.server, self.client):
            run(["ip", "netns", "del", ns], check=False)
        run(["ip", "link", "del", self.server_dev], check=False)
        shutil.rmtree(f"/sys/fs/bpf/quicxdp/{self.server_dev}", ignore_errors=True)
        shutil.rmtree(f"/sys/fs/bpf/quicxdp/{self.client_dev}", ignore_errors=True)


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


CASES = {
    # name: files, and what each side must do
    "handshake": {"files": [("hs.bin", 1000)]},
    "transfer": {"files": [("t1m.bin", 1 << 20), ("t3m.bin", 3 << 20), ("t10m.bin", 10 << 20)]},
    "multiplexing": {"files": [(f"m{i}.bin", 1000 + 37 * i) for i in range(120)]},
    "chacha20": {"files": [("c.bin", 1 << 20)], "cipher": "chacha20"},
    "keyupdate": {"files": [("k.bin", 3 << 20)], "keyupdate": True},
    "v2": {"files": [("v2.bin", 1 << 20)], "version": 2},
    "resumption": {"files": [("r1.bin", 5000), ("r2.bin", 5000)], "second_connection": True},
    "zerortt": {"files": [("z1.bin", 5000), ("z2.bin", 5000)], "second_connection": True, "zerortt": True},
}
QUICK_CASES = ["handshake", "transfer"]

# Which cases each peer can run, and why not the others (reported as unsupported).
PEERS = {
    "aioquic-hq": {"alpn": "hq-interop", "unsupported": {
        ("v2", "server"): "aioquic's client reaches v2 only by compatible version negotiation (RFC 9368), which our server does not do yet (issue 7)"}},
    "aioquic-h3": {"alpn": "h3", "unsupported": {
        ("v2", "server"): "aioquic's client reaches v2 only by compatible version negotiation (RFC 9368), which our server does not do yet (issue 7)"}},
    "ngtcp2-h3": {"alpn": "h3", "unsupported": {
        ("v2", "server"): "ngtcp2 0.12.1 (Debian) implements only a QUIC v2 draft, not RFC 9369",
        ("v2", "client"): "ngtcp2 0.12.1 (Debian) implements only a QUIC v2 draft, not RFC 9369"}},
}
QUICK_PEERS = ["aioquic-hq", "ngtcp2-h3"]


class Runner:
    def __init__(self, args):
        self.args = args
        # One directory per invocation, so concurrent runs never share files.
        self.runs = os.path.join(WORK, time.strftime("run-%Y%m%d-%H%M%S") + f"-{os.getpid()}")
        self.binary = args.binary
        self.results = []
        self.captured = set()

    # -- our side
    def our_server(self, ns, datapath, www, keylog, qlog):
        args = ns.enter(ns.server) + [self.binary, "serve", "--listen", f"[::]:{PORT}", "--cert", self.pki("server.pem"),
                                      "--key", self.pki("server.key"), "--root", www, "--keylog", keylog]
        if datapath == "afxdp":
            args += ["--dev", ns.server_dev, "--datapath", "afxdp"]
        else:
            args += ["--datapath", "udp"]
        return args

    def our_client(self, ns, datapath, urls, out, keylog, case, session, alpn):
        args = ns.enter(ns.client) + [self.binary, "get"] + urls + ["--ca", self.pki("ca.pem"), "--output", out,
                                                                  "--keylog", keylog, "--alpn", alpn]
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
    def aioquic_server(self, ns, www, keylog):
        return ns.enter(ns.server) + ["env", f"STATIC_ROOT={www}", self.python, os.path.join(EXAMPLES, "http3_server.py"),
                                      "--certificate", self.pki("server.pem"), "--private-key", self.pki("server.key"),
                                      "--host", "::", "--port", str(PORT), "--secrets-log", keylog]

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
    def ngtcp2_server(self, ns, www):
        # gtlsserver's "::" is an IPv6-only socket; the clients use the IPv4 address.
        return ns.enter(ns.server) + ["gtlsserver", SERVER_V4, str(PORT), self.pki("server.key"), self.pki("server.pem"),
                                      "-d", www, "-q"]

    def ngtcp2_client(self, ns, urls, out, case, session, directory):
        spec = CASES[case]
        args = ns.enter(ns.client) + ["gtlsclient", SERVER_V4, str(PORT)] + urls + ["--download", out,
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

    def run_case(self, peer, our_role, datapath, case):
        name = f"{case}/{peer}/{'our-server' if our_role == 'server' else 'our-client'}/{datapath}"
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
        os.makedirs(www)
        os.makedirs(out)
        keylog = os.path.join(directory, "keys.log")
        for file, size in CASES[case]["files"]:
            random_file(os.path.join(www, file), size)
        ns = Namespaces()
        started = time.time()
        server = capture = None
        outcome, detail, goodput = "FAIL", "", None
        try:
            if our_role == "server":
                server = Process(self.our_server(ns, datapath, www, keylog, None), os.path.join(directory, "server.log"))
                ready = server.wait_for(r"ready:", 15)
            elif peer.startswith("aioquic"):
                server = Process(self.aioquic_server(ns, www, os.path.join(directory, "server-keys.log")),
                                 os.path.join(directory, "server.log"), cwd=EXAMPLES)
                ready = server.wait_for(r"Listening|listening|Running", 15) or (time.sleep(2) or server.proc.poll() is None)
            else:
                server = Process(self.ngtcp2_server(ns, www), os.path.join(directory, "server.log"))
                ready = server.wait_for(r"document root", 10) or (time.sleep(1) or server.proc.poll() is None)
            if not ready:
                raise RuntimeError("server did not start: " + open(server.log_path).read()[-500:])
            if peer not in self.captured and (case == "transfer" or self.args.quick):
                capture_path = os.path.join(directory, "capture.pcapng")
                capture = Process(ns.enter(ns.client) + ["tshark", "-q", "-i", ns.client_dev, "-w", capture_path, "-f", f"udp port {PORT}"],
                                  os.path.join(directory, "tshark.log"))
                capture.wait_for(r"Capturing on", 10)
            urls = [f"https://{SERVER_V4}:{PORT}/{file}" for file, _ in CASES[case]["files"]]
            connections = [urls]
            session = None
            if CASES[case].get("second_connection"):
                connections = [urls[:1], urls[1:]]
                session = os.path.join(directory, "session.bin")
            client_logs = []
            for index, batch in enumerate(connections):
                alpn = PEERS[peer]["alpn"]
                client_started = time.time()
                if our_role == "client":
                    args = self.our_client(ns, datapath, batch, out, keylog, case, session, alpn)
                elif peer.startswith("aioquic"):
                    args = self.aioquic_client(ns, batch, out, case, session, alpn)
                else:
                    args = self.ngtcp2_client(ns, batch, out, case, session, directory)
                result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=EXAMPLES)
                self.client_seconds = time.time() - client_started
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
                    raise RuntimeError(f"client exited {result.returncode}: {client_log.strip()[-600:]}")
            else:
                # Byte-for-byte comparison of every file.
                for file, size in CASES[case]["files"]:
                    got = os.path.join(out, file)
                    if not os.path.exists(got):
                        raise RuntimeError(f"{file} was not downloaded")
                    if run(["cmp", "-s", got, os.path.join(www, file)], check=False).returncode != 0:
                        raise RuntimeError(f"{file} differs from the served file ({os.path.getsize(got)} of {size} bytes)")
                self.check_case_properties(case, our_role, client_logs, directory)
                goodput = self.goodput(our_role, client_logs, peer, sum(size for _, size in CASES[case]["files"]))
                outcome = "ok"
            if capture:
                time.sleep(0.5)
                capture.stop()
                capture = None
                self.check_capture(directory, keylog if our_role == "client" or os.path.exists(keylog) else None, peer)
        except Exception as error:  # noqa: BLE001 — every failure is reported in the matrix
            detail = str(error)
        finally:
            if capture:
                capture.stop()
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
        log(f"  {outcome:11s} {name:48s} {rate:>14s}  {'' if outcome == 'ok' else (detail if isinstance(detail, str) else ' '.join(detail))[:300]}")

    def check_case_properties(self, case, our_role, client_logs, directory):
        """What the case must show beyond the bytes: the negotiated suite, version, resumption, 0-RTT."""
        spec = CASES[case]
        text = "\n".join(client_logs)
        if our_role == "client":
            if spec.get("cipher") and "CHACHA20" not in text:
                raise RuntimeError("ChaCha20 was not negotiated")
            if spec.get("version") == 2 and "QUIC v2" not in text:
                raise RuntimeError("QUIC v2 was not used")
            if spec.get("second_connection") and ", resumed" not in client_logs[-1]:
                raise RuntimeError("the second connection was not resumed")
            if spec.get("zerortt") and "0-RTT accepted" not in client_logs[-1]:
                raise RuntimeError("0-RTT was not accepted")
        else:
            if spec.get("version") == 2 and "0x6b3343cf" not in text and "VERSION_2" not in text:
                raise RuntimeError("aioquic did not negotiate QUIC v2")
            if spec.get("cipher") and "CHACHA20" not in text.upper() and "0x1303" not in text:
                pass  # aioquic does not log the suite; the restriction leaves it no other choice

    def goodput(self, our_role, client_logs, peer=None, bytes_total=0):
        text = "\n".join(client_logs)
        if our_role == "server" and peer and peer.startswith("ngtcp2"):
            # gtlsclient prints no rate: bytes over the client process's wall time (a lower bound).
            return bytes_total * 8 / max(self.client_seconds, 1e-6) / 1e6
        if our_role == "client":
            match = re.findall(r"bytes in [\d.]+ s \(([\d.]+) Mbit/s\)", text)
            return float(match[-1]) if match else None
        rates = [(int(b), float(r)) for b, r in re.findall(r": (\d+) bytes in [\d.]+ s \(([\d.]+) Mbps\)", text)]
        return max(rates)[1] if rates else None

    def check_capture(self, directory, keylog, peer):
        capture = os.path.join(directory, "capture.pcapng")
        keys = keylog if keylog and os.path.exists(keylog) else None
        if not os.path.exists(capture) or not keys:
            raise RuntimeError("no capture or key log to decode")
        result = run(["tshark", "-r", capture, "-o", f"tls.keylog_file:{keys}", "-Y", "quic", "-T", "fields",
                      "-e", "quic.frame_type"], check=False)
        types = set(t for line in result.stdout.split() for t in line.split(","))
        # 1-RTT STREAM frames (0x08-0x0f) and HANDSHAKE_DONE (0x1e) appear only if tshark decrypted.
        if not any(t in types for t in ("8", "9", "10", "11", "12", "13", "14", "15")) or "30" not in types:
            raise RuntimeError(f"tshark could not decrypt the capture with our key log (frame types seen: {sorted(types)[:12]})")
        self.captured.add(peer)
        log(f"  capture     {peer}: decoded with our key log ({len(result.stdout.splitlines())} QUIC packets)")

    def run_all(self):
        cases = QUICK_CASES if self.args.quick else (self.args.cases.split(",") if self.args.cases else list(CASES))
        datapaths = self.args.datapaths.split(",")
        peers = QUICK_PEERS if self.args.quick and not self.args.peers else (self.args.peers or ",".join(PEERS)).split(",")
        for peer in peers:
            if peer not in PEERS:
                raise SystemExit(f"interop: unknown peer {peer}; choose from {', '.join(PEERS)}")
        self.python = setup_aioquic() if any(p.startswith("aioquic") for p in peers) else None
        if any(p.startswith("ngtcp2") for p in peers):
            setup_ngtcp2()
        make_pki(os.path.join(WORK, "pki"))
        for peer in peers:
            for role in ("server", "client"):
                for datapath in datapaths:
                    for case in cases:
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
    parser.add_argument("--json", default=os.path.join(WORK, "results.json"))
    parser.add_argument("--keep", action="store_true", help="keep the files of passing cases too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        log("interop: skipped — needs root (network namespaces, XDP); run `sudo make interop`")
        return 0
    args.binary = os.path.abspath(args.binary)
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
