#!/usr/bin/env python3
"""iris-cli bench vs oha over TLS (and plain HTTP) against nginx, both signing SigV4, in one run.

    apt-get install nginx openssl && cargo install oha --locked && cargo build --release
    python3 benches/https_vs_oha.py [--iris target/release/iris-cli] [--oha oha] [--repeat 3]

Makes a CA and a certificate for 127.0.0.1 with openssl, starts nginx (a separate process,
one worker per core) answering POST / with a fixed prediction on three ports: HTTPS with
HTTP/1.1, HTTPS with HTTP/2 (ALPN), and plain HTTP. Then, alternating the two tools run by
run, it measures closed-loop throughput with the same connection count (`-c 64`) for
--duration, and prints each figure's median of --repeat runs and the ratio iris-cli / oha
(ok responses per second). nginx does not check signatures: both tools sign every request
and the figure is the client's own cost.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BODY = '{"data":"5.1,3.5,1.4,0.2"}'
ANSWER = '{"predictions":[{"species":"setosa","class_index":0,"probabilities":[0.95,0.03,0.02]}]}'
KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def sh(*cmd, **kw):
    subprocess.run(cmd, check=True, capture_output=True, **kw)


def make_certs(d):
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=bench CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem",
       "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
       "-keyout", f"{d}/srv.key", "-out", f"{d}/srv.csr")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.pem", "-CAkey",
       f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext.cnf",
       "-out", f"{d}/srv.pem")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_nginx(d, ports):
    h1, h2, plain = ports
    loc = f"""location / {{ default_type application/json; return 200 '{ANSWER}'; }}"""
    conf = f"""
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {d}/body;
  server {{ listen 127.0.0.1:{h1} ssl; ssl_certificate {d}/srv.pem; ssl_certificate_key {d}/srv.key; {loc} }}
  server {{ listen 127.0.0.1:{h2} ssl http2; ssl_certificate {d}/srv.pem; ssl_certificate_key {d}/srv.key; {loc} }}
  server {{ listen 127.0.0.1:{plain}; {loc} }}
}}
"""
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-g", "daemon off;"],
                         stderr=subprocess.PIPE)
    time.sleep(0.5)
    if p.poll() is not None:
        sys.exit(f"nginx did not start: {p.stderr.read().decode()}")
    return p


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IRIS_"))}


def iris(bin, url, ca, conns, duration, extra):
    cmd = [bin, "bench", "-q", "-o", "json", "--url", url, "--region", "us-east-1",
           "--access-key", KEY, "--secret-key", SECRET, "--data", "5.1,3.5,1.4,0.2",
           "-c", str(conns), "--duration", duration, "--ca-bundle", ca] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    if r.returncode != 0:
        sys.exit(f"iris-cli failed ({r.returncode}): {r.stderr}")
    v = json.loads(r.stdout)
    return v["requests"]["ok"] / (v["duration_ms"] / 1000), v["connections"]["tls_handshakes"]


def oha(bin, url, ca, conns, duration, extra):
    cmd = [bin, "--no-tui", "--output-format", "json", "-m", "POST", "-T", "application/json",
           "-d", BODY, "--aws-sigv4", "aws:amz:us-east-1:execute-api", "-a", f"{KEY}:{SECRET}",
           "-c", str(conns), "-z", duration, "--cacert", ca] + extra + [url]
    r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    if r.returncode != 0:
        sys.exit(f"oha failed ({r.returncode}): {r.stderr}")
    o = json.loads(r.stdout)
    ok = o.get("statusCodeDistribution", {}).get("200", 0)
    return ok / o["summary"]["total"]  # summary.total: seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iris", default="target/release/iris-cli")
    ap.add_argument("--oha", default="oha")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    for tool in ("nginx", "openssl", args.oha):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (see the docstring)")
    d = tempfile.mkdtemp(prefix="iris-tls-bench-")
    make_certs(d)
    ports = (free_port(), free_port(), free_port())
    ng = start_nginx(d, ports)
    ca = f"{d}/ca.pem"
    cases = [
        ("TLS, HTTP/1.1", f"https://127.0.0.1:{ports[0]}/species/irispredict", ["--http1.1"], []),
        ("TLS, HTTP/2 (ALPN)", f"https://127.0.0.1:{ports[1]}/species/irispredict", ["--http2"], ["--http2"]),
        ("plain HTTP/1.1", f"http://127.0.0.1:{ports[2]}/species/irispredict", [], []),
    ]
    try:
        print(f"closed loop, {args.connections} connections, {args.duration} per run, "
              f"median of {args.repeat}, runs alternated")
        print("| case | iris-cli ok/s | oha ok/s | ratio iris-cli/oha | iris-cli TLS handshakes |")
        print("|---|---|---|---|---|")
        for name, url, iris_extra, oha_extra in cases:
            a, b, hs = [], [], []
            for _ in range(args.repeat):
                rate, h = iris(args.iris, url, ca, args.connections, args.duration, iris_extra)
                a.append(rate)
                hs.append(h)
                b.append(oha(args.oha, url, ca, args.connections, args.duration, oha_extra))
            ma, mb = statistics.median(a), statistics.median(b)
            ratio = f"{ma / mb:.2f}" if mb > 0 else "oha: 0 ok (its HTTP/2 requests are refused)"
            print(f"| {name} | {ma:,.0f} | {mb:,.0f} | {ratio} | {statistics.median(hs):.0f} |")
    finally:
        ng.terminate()
        ng.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
