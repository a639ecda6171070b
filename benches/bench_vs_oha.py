#!/usr/bin/env python3
"""iris-cli bench vs oha, both signing SigV4, against the same local emulator, in one run.

    cargo build --release && cargo install oha --locked
    python3 benches/bench_vs_oha.py [--iris target/release/iris-cli] [--oha oha] [--repeat 3]

Starts `iris-cli serve --listen 127.0.0.1:0` (a separate process), then for each rate runs
both tools for --duration at that rate (oha with --latency-correction) and prints a table:
achieved/target rate and lag p99 (oha has no lag measure: its column shows n/a, and its p99
is its corrected latency), maximum closed-loop throughput with the same connection count,
and iris-cli's peak RSS at 5 000 rps after 10 s and after 60 s. Each figure is the median of
--repeat runs.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

BODY = '{"data":"5.1,3.5,1.4,0.2"}'


def start_emulator(iris):
    p = subprocess.Popen(
        [iris, "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    env = {}
    while "AWS_SECRET_ACCESS_KEY" not in env:
        line = p.stdout.readline()
        if not line:
            sys.exit("iris-cli serve exited before printing its exports")
        if line.startswith("export "):
            k, v = line[len("export "):].strip().split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""  # values are shell-quoted
    return p, env


def iris_bench(iris, env, extra, sample_rss_at=()):
    cmd = [
        iris, "bench", "-q", "-o", "json",
        "--url", env["IRIS_URL"], "--region", env["AWS_REGION"],
        "--access-key", env["AWS_ACCESS_KEY_ID"], "--secret-key", env["AWS_SECRET_ACCESS_KEY"],
        "--data", "5.1,3.5,1.4,0.2",
    ] + extra
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IRIS_"))}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean)
    rss = {}
    t0 = time.time()
    for at in sample_rss_at:
        while time.time() - t0 < at and p.poll() is None:
            time.sleep(0.05)
        rss[at] = read_rss(p.pid)
    out, err = p.communicate()
    if p.returncode not in (0, 1):
        sys.exit(f"iris-cli bench failed ({p.returncode}): {err}")
    return json.loads(out), rss


def read_rss(pid):
    """(VmRSS, VmHWM) in MB."""
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    vals[k] = int(v.split()[0]) / 1024
    except FileNotFoundError:
        pass
    return vals.get("VmRSS"), vals.get("VmHWM")


def oha(oha_bin, env, extra):
    cmd = [
        oha_bin, "--no-tui", "--output-format", "json", "-m", "POST",
        "-T", "application/json", "-d", BODY,
        "--aws-sigv4", f"aws:amz:{env['AWS_REGION']}:execute-api",
        "-a", f"{env['AWS_ACCESS_KEY_ID']}:{env['AWS_SECRET_ACCESS_KEY']}",
    ] + extra + [env["IRIS_URL"]]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"oha failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def oha_ok(o):
    return o.get("statusCodeDistribution", {}).get("200", 0)


def oha_count(o):
    """Responses plus transport errors (summary.total is seconds, not a count)."""
    return sum(o.get("statusCodeDistribution", {}).values()) + sum(
        o.get("errorDistribution", {}).values())


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iris", default="target/release/iris-cli")
    ap.add_argument("--oha", default="oha")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--rates", default="1000,5000,10000")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--max-in-flight", type=int, default=256)
    ap.add_argument("--rss-seconds", type=int, default=60)
    args = ap.parse_args()
    emu, env = start_emulator(args.iris)
    try:
        print(f"emulator: {env['IRIS_URL']}  cores: {os.cpu_count()}  repeat: {args.repeat}")
        print()
        print("| target rps | iris-cli achieved/target | iris-cli lag p99 | iris-cli response p99 | iris-cli service p99 | iris-cli ok | oha achieved/target | oha lag p99 | oha p99 (corrected) | oha 200s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for rate in [int(r) for r in args.rates.split(",") if r]:
            ia, il, ip, isv, iok, oa, op, ook = [], [], [], [], [], [], [], []
            for _ in range(args.repeat):
                v, _ = iris_bench(args.iris, env, [
                    "--rps", str(rate), "--duration", args.duration,
                    "--max-in-flight", str(args.max_in_flight)])
                ia.append(v["achieved_rps"] / rate)
                il.append(v["latency_ms"]["lag"]["p99"])
                ip.append(v["latency_ms"]["response"]["p99"])
                isv.append(v["latency_ms"]["service"]["p99"])
                iok.append(v["requests"]["ok"] / max(v["requests"]["sent"], 1))
                o = oha(args.oha, env, [
                    "-z", args.duration, "-q", str(rate), "--latency-correction",
                    "-c", str(args.max_in_flight)])
                oa.append(o["summary"]["requestsPerSec"] / rate)
                op.append(o["latencyPercentiles"]["p99"] * 1000 if o["latencyPercentiles"].get("p99") is not None else None)
                ook.append(oha_ok(o) / max(oha_count(o), 1))
            print(f"| {rate} | {med(ia):.3f} | {med(il):.2f} ms | {med(ip):.2f} ms | {med(isv):.2f} ms | {med(iok)*100:.1f}% "
                  f"| {med(oa):.3f} | n/a | {med(op):.2f} ms | {med(ook)*100:.1f}% |", flush=True)
        print()
        it, ot = [], []
        for _ in range(args.repeat):
            v, _ = iris_bench(args.iris, env, ["-c", str(args.connections), "--duration", args.duration])
            it.append(v["requests"]["ok"] / (v["duration_ms"] / 1000))
            o = oha(args.oha, env, ["-z", args.duration, "-c", str(args.connections)])
            ot.append(oha_ok(o) / o["summary"]["total"])  # summary.total: seconds
        mi, mo = med(it), med(ot)
        print(f"| max throughput, closed loop, {args.connections} connections | iris-cli | oha | ratio iris-cli/oha |")
        print("|---|---|---|---|")
        print(f"| successful requests/s | {mi:.0f} | {mo:.0f} | {mi/mo:.2f} |", flush=True)
        print()
        if args.rss_seconds <= 10:
            return
        at = (10, args.rss_seconds - 1)
        v, rss = iris_bench(args.iris, env, [
            "--rps", "5000", "--duration", f"{args.rss_seconds}s",
            "--max-in-flight", str(args.max_in_flight)], sample_rss_at=at)
        print("| iris-cli at 5000 rps | VmRSS | VmHWM (peak) |")
        print("|---|---|---|")
        for t in at:
            r, h = rss[t]
            print(f"| after {t} s | {r:.1f} MB | {h:.1f} MB |")
        print(f"(that run: achieved {v['achieved_rps']:.0f} rps, lag p99 {v['latency_ms']['lag']['p99']:.2f} ms)")
    finally:
        emu.terminate()
        emu.wait()


if __name__ == "__main__":
    main()
