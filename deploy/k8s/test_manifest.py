"""Structural checks of the scale-out manifest (runs with pytest or plain python3).

No cluster needed: parses the YAML and checks what `report merge` relies on - an Indexed Job
whose copies all run at once, each writing its own interval log named by its index.
"""
import pathlib
import re

import yaml

HERE = pathlib.Path(__file__).parent


def docs():
    with open(HERE / "bench-indexed-job.yaml") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_indexed_job_runs_n_copies_each_with_its_own_log():
    job = next(d for d in docs() if d["kind"] == "Job")
    assert job["apiVersion"] == "batch/v1"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] >= 2
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["command"] == ["iris-cli"]
    args = c["args"]
    assert args[0] == "bench"
    assert args[args.index("--rps") + 1] == "$(RPS_PER_COPY)"
    log = args[args.index("--hdr-log") + 1]
    assert "$(JOB_COMPLETION_INDEX)" in log and log.endswith(".hlog")
    env = {e["name"]: e for e in c["env"]}
    assert float(env["RPS_PER_COPY"]["value"]) > 0
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        ref = env[k]["valueFrom"]["secretKeyRef"]
        assert ref["optional"] is True  # IRSA works without the Secret
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert log.startswith(mounts["out"] + "/")
    # Every $(VAR) in args is defined (or set by Kubernetes for Indexed Jobs).
    for a in args:
        for var in re.findall(r"\$\((\w+)\)", a):
            assert var in env or var == "JOB_COMPLETION_INDEX", var


def test_service_account_and_volume_exist():
    kinds = {d["kind"]: d for d in docs()}
    pod = kinds["Job"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    assert "ReadWriteMany" in kinds["PersistentVolumeClaim"]["spec"]["accessModes"]


if __name__ == "__main__":
    test_indexed_job_runs_n_copies_each_with_its_own_log()
    test_service_account_and_volume_exist()
    print("ok")
