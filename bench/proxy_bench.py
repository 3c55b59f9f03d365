#!/usr/bin/env python3
"""What the emulator's intercepting HTTPS proxy adds to a request: the same Graph call
(`GET /v1.0/users?$top=1` with a token) made directly to an `entra-token emulator --tls` and
through it as an HTTPS proxy to `https://graph.microsoft.com`, interleaved (direct, proxied,
direct, ...), with Python `requests` as a script would make it. Two modes: a kept-alive
connection (one session each), and a new connection for every request (as a CLI call or a
fresh script pays it: TCP, CONNECT and both TLS handshakes). Reports medians and the
difference.

usage: bench/proxy_bench.py [--bin target/release/entra-token] [--rounds 300]
needs: pip install requests. Nothing here is a test and nothing asserts a time.
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TENANT = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00"
CLIENT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "Emu~lat.or_Secret-1+/=%&value"


def timed(fn):
    t = time.perf_counter()
    r = fn()
    ms = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        sys.exit(f"HTTP {r.status_code}: {r.text[:300]}")
    return ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "entra-token"))
    ap.add_argument("--rounds", type=int, default=300)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="entra-token-proxy-bench-")
    ca = os.path.join(work, "ca.pem")
    emu = subprocess.Popen([os.path.abspath(a.bin), "emulator", "--port", "0", "--tls", "--ca-file", ca],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = emu.stdout.readline().strip()
        # the emulator's own port, in plain HTTP for CONNECT (as HTTPS_PROXY=http://127.0.0.1:PORT)
        proxy = {"https": base.replace("https://", "http://", 1)}
        tok = requests.post(f"{base}/{TENANT}/oauth2/v2.0/token", verify=ca, data={
            "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}"}
        direct_url = f"{base}/v1.0/users?$top=1"
        proxied_url = "https://graph.microsoft.com/v1.0/users?$top=1"

        def fresh(url, proxies):
            with requests.Session() as s:
                s.trust_env = False
                return s.get(url, headers=headers, verify=ca, proxies=proxies)

        kept_direct, kept_proxied = requests.Session(), requests.Session()
        for s in (kept_direct, kept_proxied):
            s.trust_env = False
        kept = {
            "direct": lambda: kept_direct.get(direct_url, headers=headers, verify=ca),
            "proxied": lambda: kept_proxied.get(proxied_url, headers=headers, verify=ca, proxies=proxy),
        }
        new = {
            "direct": lambda: fresh(direct_url, {}),
            "proxied": lambda: fresh(proxied_url, proxy),
        }
        print(f"{a.rounds} rounds each, interleaved; emulator {a.bin}")
        print(f"{'mode':<16}{'direct ms':>12}{'proxied ms':>12}{'added ms':>12}")
        for mode, calls in (("kept-alive", kept), ("new connection", new)):
            for f in calls.values():  # warm up (and open the kept-alive connections)
                timed(f)
            res = {"direct": [], "proxied": []}
            for i in range(a.rounds):
                order = ("direct", "proxied") if i % 2 == 0 else ("proxied", "direct")
                for k in order:
                    res[k].append(timed(calls[k]))
            d, p = statistics.median(res["direct"]), statistics.median(res["proxied"])
            print(f"{mode:<16}{d:>12.2f}{p:>12.2f}{p - d:>12.2f}")
    finally:
        emu.terminate()
        emu.wait()


if __name__ == "__main__":
    main()
