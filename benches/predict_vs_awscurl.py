#!/usr/bin/env python3
"""Wall time of one signed prediction: `iris-cli predict` vs `awscurl`, same request, same
loopback emulator, measured in the same run, interleaved so drift hits both alike.

    cargo build --release && pip install awscurl
    python3 benches/predict_vs_awscurl.py [--runs 30] [--bin target/release/iris-cli]

Prints each tool's median and p90 wall time and the ratio iris-cli/awscurl (target <= 0.1).
Both requests must succeed (the emulator verifies both signatures) or the script fails.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def start_emulator(binary):
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    env = {}
    for _ in range(6):
        line = proc.stdout.readline().strip()
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return proc, env


def timed(cmd, env):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0 or "setosa" not in out.stdout:
        sys.exit(f"{cmd[0]} failed ({out.returncode}): {out.stdout}{out.stderr}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--bin", default="target/release/iris-cli")
    args = ap.parse_args()
    awscurl = shutil.which("awscurl")
    if not awscurl:
        sys.exit("awscurl not found: pip install awscurl")
    proc, emu = start_emulator(args.bin)
    try:
        env = dict(os.environ)
        env.update(emu)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTPS_PROXY", "HTTP_PROXY"):
            env.pop(k, None)
        env["NO_PROXY"] = "127.0.0.1"
        body = '{"data":"5.1,3.5,1.4,0.2"}'
        url = emu["IRIS_URL"]
        ours = [args.bin, "predict", "--url", url, "--region", "us-east-1", "--body", body]
        theirs = [
            awscurl, "--service", "execute-api", "--region", "us-east-1",
            "-X", "POST", "-H", "Content-Type: application/json", "-d", body, url,
        ]
        # Warm the page cache and Python's bytecode cache once each.
        timed(ours, env)
        timed(theirs, env)
        a, b = [], []
        for _ in range(args.runs):
            a.append(timed(ours, env))
            b.append(timed(theirs, env))
    finally:
        proc.terminate()
        proc.wait()

    def p90(xs):
        return sorted(xs)[int(0.9 * (len(xs) - 1))]

    ma, mb = statistics.median(a), statistics.median(b)
    print(f"runs: {args.runs} each, interleaved, same loopback emulator")
    print(f"iris-cli predict : median {ma * 1e3:7.1f} ms  p90 {p90(a) * 1e3:7.1f} ms")
    print(f"awscurl          : median {mb * 1e3:7.1f} ms  p90 {p90(b) * 1e3:7.1f} ms")
    print(f"ratio iris-cli/awscurl (medians): {ma / mb:.3f}  (target <= 0.100)")


if __name__ == "__main__":
    main()
