#!/usr/bin/env python3
"""entra-token benchmark: median wall time and peak RSS of token acquisition against the built-in
emulator over HTTPS, side by side with the peer (MSAL Python, the library under the Azure CLI,
../shared/bench/msal_peer.py) in ONE run, so the ratios compare like with like.

usage: bench/bench.py [--runs N] [--bin target/release/entra-token]
needs: a release build, python packages msal msal-extensions cryptography, Debian `time`;
for the keyring rows: dbus-daemon, gnome-keyring-daemon.
Prints a table; nothing here is a test and nothing asserts a time.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.path.join(ROOT, "..", "shared", "bench", "msal_peer.py")


def median_ms(cmd, env, runs, warmup=3):
    """Median wall time. With hyperfine (-N: no shell, no Python in between) when it is installed,
    else a perf_counter loop around subprocess.run (which adds the same spawn cost to every tool)."""
    if shutil.which("hyperfine"):
        out = os.path.join(tempfile.mkdtemp(), "h.json")
        subprocess.run(["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                        "--export-json", out, " ".join(cmd)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)["results"][0]["median"] * 1000
    for _ in range(warmup):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def peak_rss_mb(cmd, env):
    """Peak RSS via GNU time (a small forking parent, so the figure is the command's own)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "entra-token"))
    a = ap.parse_args()
    bin_ = os.path.abspath(a.bin)
    work = tempfile.mkdtemp(prefix="entra-token-bench-")
    ca = os.path.join(work, "ca.pem")
    emu = subprocess.Popen([bin_, "emulator", "--tls", "--ca-file", ca], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    base = emu.stdout.readline().strip()
    sys.path.insert(0, ROOT)
    tenant, client, secret = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "Emu~lat.or_Secret-1+/=%&value"
    env = {"PATH": os.environ["PATH"], "HOME": work, "XDG_CACHE_HOME": os.path.join(work, "cache"),
           "XDG_CONFIG_HOME": os.path.join(work, "config"), "AZURE_AUTHORITY_HOST": base,
           "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": client, "AZURE_CLIENT_SECRET": secret,
           "SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca}
    rows = []
    try:
        et_net = [bin_, "get", "--cache", "none"]
        peer_net = [sys.executable, PEER, base, tenant, client]
        rows.append(("network path (no cache), secret", "entra-token", median_ms(et_net, env, a.runs), peak_rss_mb(et_net, env)))
        rows.append(("network path (no cache), secret", "MSAL Python", median_ms(peer_net, env, a.runs), peak_rss_mb(peer_net, env)))

        cert = os.path.join(work, "bench-cert.pem")
        have_cert = subprocess.run([bin_, "cert", "create", "--subject", "CN=entra-token bench", "--out", cert],
                                   env=env, capture_output=True).returncode == 0
        if have_cert:
            manifest = subprocess.run([bin_, "cert", "manifest", cert], env=env, capture_output=True, text=True, check=True).stdout
            import urllib.request, ssl
            ctx = ssl.create_default_context(cafile=ca)
            req = urllib.request.Request(f"{base}/_emulator/apps/{client}/certificates", data=manifest.encode(),
                                         headers={"content-type": "application/json"}, method="POST")
            urllib.request.urlopen(req, context=ctx).read()
            cenv = dict(env)
            del cenv["AZURE_CLIENT_SECRET"]
            cenv["AZURE_CLIENT_CERTIFICATE_PATH"] = cert
            rows.append(("network path (no cache), certificate", "entra-token", median_ms(et_net, cenv, a.runs), peak_rss_mb(et_net, cenv)))
            rows.append(("network path (no cache), certificate", "MSAL Python", median_ms(peer_net, cenv, a.runs), peak_rss_mb(peer_net, cenv)))

        et_hit = [bin_, "get", "--cache", "file"]
        subprocess.run(et_hit, env=env, stdout=subprocess.DEVNULL, check=True)
        penv = dict(env, MSAL_CACHE=os.path.join(work, "msal-cache.bin"))
        subprocess.run(peer_net, env=penv, stdout=subprocess.DEVNULL, check=True)
        rows.append(("cache hit, file store", "entra-token", median_ms(et_hit, env, a.runs * 3), peak_rss_mb(et_hit, env)))
        rows.append(("cache hit, file store", "MSAL Python + msal-extensions", median_ms(peer_net, penv, a.runs), peak_rss_mb(peer_net, penv)))

        if shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon"):
            out = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                                 capture_output=True, text=True, check=True).stdout.split()
            addr, pid = out[0], int(out[1])
            kenv = dict(env, DBUS_SESSION_BUS_ADDRESS=addr, XDG_DATA_HOME=os.path.join(work, "data"))
            try:
                subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input=b"bench", env=kenv,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                k_hit = [bin_, "get", "--cache", "keyring"]
                subprocess.run(k_hit, env=kenv, stdout=subprocess.DEVNULL, check=True)
                rows.append(("cache hit, keyring store", "entra-token", median_ms(k_hit, kenv, a.runs * 3), peak_rss_mb(k_hit, kenv)))
            finally:
                os.kill(pid, 15)
    finally:
        emu.terminate()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'case':40} {'tool':32} {'median ms':>10} {'peak RSS MB':>12}")
    for case, tool, ms, rss in rows:
        print(f"{case:40} {tool:32} {ms:10.1f} {rss:12.1f}")
    by = {(c, t.split()[0]): ms for c, t, ms, _ in rows}
    print()
    for case in dict.fromkeys(c for c, _, _, _ in rows):
        et, peer = by.get((case, "entra-token")), by.get((case, "MSAL"))
        if et and peer:
            print(f"ratio {case}: MSAL Python / entra-token = {peer / et:.0f}x")
    print(f"timer: {'hyperfine -N' if shutil.which('hyperfine') else 'subprocess loop'}; load average {os.getloadavg()[0]:.2f}")
    print(json.dumps({"runs": a.runs, "rows": rows}))


if __name__ == "__main__":
    main()
