#!/usr/bin/env python3
"""entra-token benchmark: median wall time and peak RSS of token acquisition against the built-in
emulator over HTTPS, side by side with the peer (MSAL Python, the library under the Azure CLI,
bench/msal_peer.py) in ONE run, so the ratios compare like with like.

With --baseline BIN (a build of the previous main) the rows marked for it are timed for both
builds INTERLEAVED in the same run (rounds of baseline, current / current, baseline / ...), so a
drift of the machine's load hits both alike; it prints both medians, the difference, and whether
each cache hit is within +5% or +0.1 ms of the baseline (a printed verdict, not an assertion).

usage: bench/bench.py [--runs N] [--rounds N] [--bin target/release/entra-token] [--baseline BIN]
needs: a release build, python packages msal msal-extensions cryptography, Debian `time`
(and `hyperfine`, else a perf_counter loop is the timer); for the keyring row: dbus-daemon,
gnome-keyring-daemon.
A row is one entry in CASES below. Nothing here is a test and nothing asserts a time.
"""
import argparse, contextlib, dataclasses, json, math, os, shlex, shutil, ssl, statistics, subprocess, sys
import tempfile, time, urllib.request
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.path.join(HERE, "msal_peer.py")
# The emulator's built-in confidential client (see the README's emulator section).
TENANT = "7e0a1f4c-3b6d-4c2e-9a51-0c4f3d2b1a00"
CLIENT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "Emu~lat.or_Secret-1+/=%&value"
HYPERFINE = shutil.which("hyperfine")
# A cache hit of the current build passes when it is within either bound of the baseline's.
HIT_BUDGET_PCT, HIT_BUDGET_MS = 5.0, 0.1


# ---------------------------------------------------------------------------------------------
# timing


def sample_ms(cmd, env, runs, warmup):
    """Wall times (ms) of `runs` runs of cmd. With hyperfine -N (no shell, no Python in between)
    when it is installed, else a perf_counter loop around subprocess.run (which adds the same
    spawn cost to every tool)."""
    if HYPERFINE:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "h.json")
            subprocess.run([HYPERFINE, "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                            "--export-json", out, shlex.join(cmd)], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(out) as f:
                return [t * 1000 for t in json.load(f)["results"][0]["times"]]
    for _ in range(warmup):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def median_ms(cmd, env, runs, warmup=3):
    return statistics.median(sample_ms(cmd, env, runs, warmup))


def interleaved_medians(cmds, runs, rounds):
    """cmds: {label: (argv, env)}. Runs each command `runs` times in all, split into `rounds`
    rounds that alternate between the commands; the order flips every round (a b, b a, a b, ...)
    so that neither build always runs first after the other. Returns {label: median ms}."""
    per_round = max(1, math.ceil(runs / rounds))
    samples = {label: [] for label in cmds}
    order = list(cmds)
    for r in range(rounds):
        for label in order if r % 2 == 0 else reversed(order):
            cmd, env = cmds[label]
            samples[label] += sample_ms(cmd, env, per_round, warmup=1)
    return {label: statistics.median(s) for label, s in samples.items()}


def peak_rss_mb(cmd, env):
    """Peak RSS via GNU time (a small forking parent, so the figure is the command's own)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1]) / 1024


# ---------------------------------------------------------------------------------------------
# what a row needs: each setup is a context manager that yields the environment for the row
# (given the build's own base environment), or None when this machine cannot run the row.


@contextlib.contextmanager
def plain(bench, env):
    yield env


@contextlib.contextmanager
def certificate(bench, env):
    """A certificate credential registered with the emulator's app instead of the secret."""
    cert = os.path.join(env["HOME"], "bench-cert.pem")
    made = subprocess.run([bench.bin, "cert", "create", "--subject", "CN=entra-token bench", "--out", cert],
                          env=env, capture_output=True)
    if made.returncode != 0:
        yield None
        return
    manifest = subprocess.run([bench.bin, "cert", "manifest", cert], env=env, capture_output=True, text=True,
                              check=True).stdout
    ctx = ssl.create_default_context(cafile=bench.ca)
    req = urllib.request.Request(f"{bench.base}/_emulator/apps/{CLIENT}/certificates", data=manifest.encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req, context=ctx).read()
    cenv = dict(env, AZURE_CLIENT_CERTIFICATE_PATH=cert)
    del cenv["AZURE_CLIENT_SECRET"]
    yield cenv


@contextlib.contextmanager
def keyring(bench, env):
    """gnome-keyring's Secret Service, unlocked, on a private D-Bus session bus."""
    if not (shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon")):
        yield None
        return
    out = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                         capture_output=True, text=True, check=True).stdout.split()
    addr, pid = out[0], int(out[1])
    kenv = dict(env, DBUS_SESSION_BUS_ADDRESS=addr, XDG_DATA_HOME=os.path.join(env["HOME"], "data"))
    try:
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input=b"bench", env=kenv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        yield kenv
    finally:
        os.kill(pid, 15)


@contextlib.contextmanager
def managed_identity(bench, env):
    """A VM's managed identity: IMDS at the emulator, no app credential in the environment."""
    menv = dict(env, AZURE_POD_IDENTITY_AUTHORITY_HOST=bench.base)
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
        menv.pop(name, None)
    yield menv


def msal(bench, env):
    return [sys.executable, PEER, bench.base, TENANT, CLIENT], env


def msal_file_cache(bench, env):
    """MSAL Python with msal-extensions' persisted file cache (primed like entra-token's)."""
    return [sys.executable, PEER, bench.base, TENANT, CLIENT], dict(env, MSAL_CACHE=os.path.join(env["HOME"], "msal.bin"))


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    args: tuple                                  # entra-token's arguments
    setup: Callable = plain                      # see above
    cache_hit: bool = False                      # primed once before timing; more runs; judged against the budget
    peer: Optional[Callable] = None              # (bench, env) -> (argv, env) of the MSAL Python row
    peer_label: str = "MSAL Python"
    baseline: bool = False                       # timed interleaved against --baseline


# The table: one entry a row.
CASES = [
    Case("network path (no cache), secret", ("get", "--cache", "none"), peer=msal, baseline=True),
    Case("network path (no cache), certificate", ("get", "--cache", "none"), setup=certificate, peer=msal),
    Case("cache hit, file store", ("get", "--cache", "file"), cache_hit=True, peer=msal_file_cache,
         peer_label="MSAL Python + msal-extensions", baseline=True),
    Case("cache hit, keyring store", ("get", "--cache", "keyring"), setup=keyring, cache_hit=True),
]


# Pairs of rows of the CURRENT build timed against each other, interleaved in the same run:
# (title, case, reference); the case's cache hit is judged within +5% or +0.1 ms of the reference's.
PAIRS = [
    ("managed identity vs client secret",
     Case("cache hit, managed identity (IMDS)", ("get", "--managed-identity", "--cache", "file"),
          setup=managed_identity, cache_hit=True),
     Case("cache hit, client secret", ("get", "--cache", "file"), cache_hit=True)),
]


# ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, bin_, baseline, work, base, ca):
        self.bin, self.baseline, self.work, self.base, self.ca = bin_, baseline, work, base, ca

    def env_for(self, label):
        """A build's own HOME and cache/config dirs (two builds never share a cache file), the
        emulator's app credentials and its CA."""
        home = os.path.join(self.work, label)
        os.makedirs(home, exist_ok=True)
        return {"PATH": os.environ["PATH"], "HOME": home, "XDG_CACHE_HOME": os.path.join(home, "cache"),
                "XDG_CONFIG_HOME": os.path.join(home, "config"), "AZURE_AUTHORITY_HOST": self.base,
                "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": SECRET,
                "SSL_CERT_FILE": self.ca, "REQUESTS_CA_BUNDLE": self.ca}


def prime(cmd, env):
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)


def run_case(bench, case, runs, rounds, rows, compared):
    n = runs * 3 if case.cache_hit else runs
    with contextlib.ExitStack() as stack:
        env = stack.enter_context(case.setup(bench, bench.env_for("current")))
        if env is None:
            print(f"skipped: {case.name} (this machine cannot run it)", file=sys.stderr)
            return
        cur = [bench.bin, *case.args]
        if case.cache_hit:
            prime(cur, env)
        if case.baseline and bench.baseline:
            benv = stack.enter_context(case.setup(bench, bench.env_for("baseline")))
            old = [bench.baseline, *case.args]
            if case.cache_hit:
                prime(old, benv)
            med = interleaved_medians({"baseline": (old, benv), "current": (cur, env)}, n, rounds)
            compared.append((case, med["baseline"], med["current"], peak_rss_mb(old, benv)))
            ms = med["current"]
        else:
            ms = median_ms(cur, env, n)
        rows.append((case.name, "entra-token", ms, peak_rss_mb(cur, env)))
        if case.peer:
            pcmd, penv = case.peer(bench, env)
            if case.cache_hit:
                prime(pcmd, penv)
            rows.append((case.name, case.peer_label, median_ms(pcmd, penv, runs), peak_rss_mb(pcmd, penv)))


def run_pair(bench, title, case, ref, runs, rounds, paired):
    """Both rows primed, then timed interleaved (the same build, the same home)."""
    n = runs * 3
    with contextlib.ExitStack() as stack:
        env = stack.enter_context(case.setup(bench, bench.env_for("pair")))
        renv = stack.enter_context(ref.setup(bench, bench.env_for("pair")))
        if env is None or renv is None:
            print(f"skipped: {title} (this machine cannot run it)", file=sys.stderr)
            return
        cur, old = [bench.bin, *case.args], [bench.bin, *ref.args]
        prime(cur, env)
        prime(old, renv)
        med = interleaved_medians({ref.name: (old, renv), case.name: (cur, env)}, n, rounds)
        paired.append((title, ref.name, med[ref.name], case.name, med[case.name]))


def report(rows, compared, runs, rounds, paired=()):
    print(f"{'case':40} {'tool':32} {'median ms':>10} {'peak RSS MB':>12}")
    for case, tool, ms, rss in rows:
        print(f"{case:40} {tool:32} {ms:10.1f} {rss:12.1f}")
    print()
    by = {(c, t): ms for c, t, ms, _ in rows}
    for case in CASES:
        et, peer = by.get((case.name, "entra-token")), by.get((case.name, case.peer_label))
        if et and peer:
            print(f"ratio {case.name}: {case.peer_label} / entra-token = {peer / et:.0f}x")
    verdicts = []
    if compared:
        print()
        print(f"against the baseline, interleaved ({rounds} rounds, baseline and current taking turns):")
        print(f"{'case':40} {'baseline ms':>11} {'current ms':>11} {'diff ms':>8} {'diff %':>7} "
              f"{'base RSS MB':>11}  verdict")
        for case, old, new, old_rss in compared:
            diff = new - old
            pct = diff / old * 100
            verdict = ""
            if case.cache_hit:
                ok = pct <= HIT_BUDGET_PCT or diff <= HIT_BUDGET_MS
                verdict = (f"{'within' if ok else 'OUTSIDE'} the budget "
                           f"(+{HIT_BUDGET_PCT:g}% or +{HIT_BUDGET_MS:g} ms)")
                verdicts.append({"case": case.name, "within_budget": ok})
            print(f"{case.name:40} {old:11.2f} {new:11.2f} {diff:+8.2f} {pct:+6.1f}% {old_rss:11.1f}  {verdict}")
    for title, ref, ref_ms, name, ms in paired:
        diff = ms - ref_ms
        pct = diff / ref_ms * 100
        ok = pct <= HIT_BUDGET_PCT or diff <= HIT_BUDGET_MS
        verdicts.append({"case": name, "reference": ref, "within_budget": ok})
        print()
        print(f"{title}, interleaved ({rounds} rounds):")
        print(f"  {ref:38} {ref_ms:8.2f} ms")
        print(f"  {name:38} {ms:8.2f} ms  {diff:+.2f} ms {pct:+.1f}%  "
              f"{'within' if ok else 'OUTSIDE'} the budget (+{HIT_BUDGET_PCT:g}% or +{HIT_BUDGET_MS:g} ms)")
    load = os.getloadavg()[0]
    print(f"timer: {'hyperfine -N' if HYPERFINE else 'subprocess loop'}; load average {load:.2f}")
    if load > (os.cpu_count() or 1) / 2:
        print(f"note: load average {load:.2f} on {os.cpu_count()} CPUs: other work shares the machine; "
              "even two identical builds differ by tens of percent then, so neither the figures nor "
              "the verdicts mean much")
    print(json.dumps({"runs": runs, "rows": rows,
                      "pairs": [{"title": t, "reference": r, "reference_ms": rm, "case": c, "case_ms": m}
                                for t, r, rm, c, m in paired],
                      "baseline": [{"case": c.name, "baseline_ms": o, "current_ms": n} for c, o, n, _ in compared],
                      "verdicts": verdicts}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="timed runs a row (cache hits: three times as many)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds with --baseline")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "entra-token"))
    ap.add_argument("--baseline", metavar="BIN", help="a build of the previous main to compare against")
    a = ap.parse_args()
    for flag, path in (("--bin", a.bin), ("--baseline", a.baseline)):
        if path and not os.access(path, os.X_OK):
            ap.error(f"{flag}: {path} is not an executable file")
    if a.runs < 1 or a.rounds < 1:
        ap.error("--runs and --rounds must be at least 1")
    bin_ = os.path.abspath(a.bin)
    baseline = os.path.abspath(a.baseline) if a.baseline else None
    work = tempfile.mkdtemp(prefix="entra-token-bench-")
    ca = os.path.join(work, "ca.pem")
    emu = subprocess.Popen([bin_, "emulator", "--tls", "--ca-file", ca], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    rows, compared, paired = [], [], []
    try:
        base = emu.stdout.readline().strip()
        bench = Bench(bin_, baseline, work, base, ca)
        for case in CASES:
            run_case(bench, case, a.runs, a.rounds, rows, compared)
        for title, case, ref in PAIRS:
            run_pair(bench, title, case, ref, a.runs, a.rounds, paired)
    finally:
        emu.terminate()
        emu.wait()
        shutil.rmtree(work, ignore_errors=True)
    report(rows, compared, a.runs, a.rounds, paired)


if __name__ == "__main__":
    main()
