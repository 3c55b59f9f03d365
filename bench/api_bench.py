#!/usr/bin/env python3
"""entra-token `api --paginate` benchmark: items per second and peak RSS while paging through a
large Graph collection served by the built-in emulator (config user_count, 999 users a page),
as NDJSON and as one merged document. The point is that memory stays flat: the figure should not
grow with the number of items.

usage: bench/api_bench.py [--users N] [--bin target/release/entra-token] [--tls]
needs: a release build, Debian `time` (/usr/bin/time -f %M).
Prints a table; nothing here is a test and nothing asserts a time or a size.
"""
import argparse, json, os, ssl, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TENANT = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00"
CLIENT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "Emu~lat.or_Secret-1+/=%&value"


def control(base, ctx, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    return urllib.request.urlopen(req, context=ctx).read()


def measure(cmd, env):
    """Runs cmd under GNU time; returns (seconds, peak RSS MiB, stdout lines, stdout bytes)."""
    t = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-f", "peak-rss-kib=%M"] + cmd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = size = 0
    while True:
        chunk = p.stdout.read(1 << 16)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        size += len(chunk)
    err = p.stderr.read().decode()
    p.wait()
    secs = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err}")
    kib = int([l for l in err.splitlines() if l.startswith("peak-rss-kib=")][-1].split("=")[1])
    return secs, kib / 1024, lines, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "entra-token"))
    ap.add_argument("--tls", action="store_true", help="serve the emulator over HTTPS")
    a = ap.parse_args()
    bin_ = os.path.abspath(a.bin)
    work = tempfile.mkdtemp(prefix="entra-token-api-bench-")
    ca = os.path.join(work, "ca.pem")
    emu_cmd = [bin_, "emulator", "--port", "0"] + (["--tls", "--ca-file", ca] if a.tls else [])
    emu = subprocess.Popen(emu_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = emu.stdout.readline().strip()
    ctx = ssl.create_default_context(cafile=ca) if a.tls else None
    env = {"PATH": os.environ["PATH"], "HOME": work, "XDG_CACHE_HOME": os.path.join(work, "cache"),
           "XDG_CONFIG_HOME": os.path.join(work, "config"), "AZURE_AUTHORITY_HOST": base,
           "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": SECRET,
           "ENTRA_TOKEN_CACHE": "file"}
    if a.tls:
        env["SSL_CERT_FILE"] = ca
    rows = []
    try:
        api = [bin_, "api", "--graph-url", base]
        # warm the token cache so the rows measure paging, not the token request
        subprocess.run(api + ["/v1.0/users?$top=1"], env=env, stdout=subprocess.DEVNULL, check=True)
        for users in sorted({1_000, a.users}):
            control(base, ctx, "POST", "/_emulator/config", {"user_count": users})
            for label, extra in (("--ndjson", ["--ndjson"]), ("merged", [])):
                cmd = api + ["--paginate"] + extra + ["/v1.0/users?$top=999"]
                secs, rss, lines, size = measure(cmd, env)
                items = lines if extra else users
                rows.append((f"{users} users, {label}", items, secs, items / secs, rss, size / secs / 1e6))
        control(base, ctx, "POST", "/_emulator/config", {"user_count": 999})
        secs, rss, _, size = measure(api + ["/v1.0/users?$top=999"], env)
        rows.append(("one 999-user page, no --paginate (streamed)", 999, secs, 999 / secs, rss, size / secs / 1e6))
    finally:
        emu.terminate()
        emu.wait()
    print(f"entra-token api benchmark ({'https' if a.tls else 'http'} emulator on loopback, {os.cpu_count()} CPUs)")
    print(f"{'case':<46} {'items':>8} {'secs':>7} {'items/s':>9} {'peak RSS':>9} {'MB/s':>6}")
    for case, items, secs, ips, rss, mbs in rows:
        print(f"{case:<46} {items:>8} {secs:>7.2f} {ips:>9.0f} {rss:>7.1f}MB {mbs:>6.1f}")


if __name__ == "__main__":
    main()
