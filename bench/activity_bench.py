#!/usr/bin/env python3
"""`activity pull` against the plain Python `requests` loop (bench/activity_loop.py): events per
second and peak RSS pulling N content blobs of M events each from the built-in emulator, both
tools against the same emulator and the same seeded content, in one run.

usage: bench/activity_bench.py [--bin target/release/entra-token] [--blobs 2000 200]
                               [--events 100] [--runs 3] [--concurrency 4]
needs: a release build, python3 with `requests`, Debian `time` (/usr/bin/time). Nothing here is a test and nothing asserts
a time: it prints a table (median of --runs for the rate, the largest peak RSS of them).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOOP = os.path.join(HERE, "activity_loop.py")
# The emulator's built-in confidential client (see the README's emulator section).
TENANT = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00"
CLIENT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "Emu~lat.or_Secret-1+/=%&value"


def control(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def measure(cmd, env, work):
    """(seconds, peak RSS in MiB, lines on stdout) of one run, the RSS from GNU time (a small
    forking parent, so the figure is the command's own); stdout is counted, not kept."""
    rss_file = os.path.join(work, "rss")
    start = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-o", rss_file, "-f", "%M"] + cmd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = 0
    for chunk in iter(lambda: p.stdout.read(1 << 20), b""):
        lines += chunk.count(b"\n")
    code = p.wait()
    elapsed = time.perf_counter() - start
    if code != 0:
        sys.exit(f"{cmd[0]} exited {code}")
    with open(rss_file) as f:
        peak = int(f.read().strip().splitlines()[-1])
    return elapsed, peak / 1024, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "entra-token"))
    ap.add_argument("--blobs", type=int, nargs="+", default=[200, 2000])
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    a = ap.parse_args()

    rows = []
    for blobs in sorted(a.blobs):
        emu = subprocess.Popen([a.bin, "emulator", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env={"PATH": os.environ.get("PATH", "")})
        try:
            base = emu.stdout.readline().decode().strip()
            control(base, "POST", "/_emulator/config", {"content_blobs": 0, "content_page_size": 200})
            now = int(time.time())
            control(base, "POST", "/_emulator/activity/seed",
                    {"blobs": blobs, "events_per_blob": a.events, "start": now - 22 * 3600, "end": now - 3600})
            env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                   "AZURE_AUTHORITY_HOST": base, "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT,
                   "AZURE_CLIENT_SECRET": SECRET, "ENTRA_TOKEN_MANAGEMENT_URL": base,
                   "ENTRA_TOKEN_CACHE": "none", "NO_PROXY": "*"}
            tools = {
                "entra-token activity pull": [a.bin, "activity", "pull", "--content-type", "Audit.General",
                                              "--since", "23h", "--concurrency", str(a.concurrency)],
                "python requests loop": [sys.executable, LOOP, "--content-type", "Audit.General",
                                         "--hours", "23"],
            }
            for name, cmd in tools.items():
                with tempfile.TemporaryDirectory() as work:
                    samples = [measure(cmd, env, work) for _ in range(a.runs)]
                lines = {s[2] for s in samples}
                if lines != {blobs * a.events}:
                    sys.exit(f"{name}: {lines} events, expected {blobs * a.events}")
                secs = statistics.median(s[0] for s in samples)
                rows.append((name, blobs, blobs * a.events, secs, blobs * a.events / secs,
                             max(s[1] for s in samples)))
        finally:
            emu.kill()
            emu.wait()

    print(f"{'tool':28} {'blobs':>6} {'events':>8} {'seconds':>8} {'events/s':>10} {'peak RSS MiB':>13}")
    for name, blobs, events, secs, rate, rss in rows:
        print(f"{name:28} {blobs:>6} {events:>8} {secs:>8.2f} {rate:>10,.0f} {rss:>13.1f}")
    rate = {(r[0], r[1]): r[4] for r in rows}
    rss = {(r[0], r[1]): r[5] for r in rows}
    big, small = max(a.blobs), min(a.blobs)
    et, py = "entra-token activity pull", "python requests loop"
    print(f"\nthroughput at {big} blobs: {rate[(et, big)] / rate[(py, big)]:.1f}x the Python loop")
    if big != small:
        print(f"entra-token peak RSS at {big} blobs / at {small}: {rss[(et, big)] / rss[(et, small)]:.2f}")


if __name__ == "__main__":
    main()
