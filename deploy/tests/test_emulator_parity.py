"""Byte-identity between the emulator's Lambda and deploy/lambda/handler.py.

For each input, the emulator's own SageMaker route gives the container body; moto's mocked
InvokeEndpoint is made to return exactly that body to the real handler; the handler's result,
serialised as Lambda does (json.dumps), must equal the emulator's API Gateway response body byte
for byte. Needs the built binary: IRIS_CLI_BIN, or target/debug/iris-cli under the repo root.
"""

import io
import json
import os
import re
import selectors
import shlex
import subprocess
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from support import http_post

import export_model
import handler
import train_sagemaker

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[2]
EXPORTS = (
    "IRIS_URL",
    "IRIS_HTTP_API_URL",
    "IRIS_FUNCTION_URL",
    "IRIS_ENDPOINT_URL",
    "IRIS_ENDPOINT_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
STARTUP_SECONDS = 30

INPUTS = {
    "one row": "5.1,3.5,1.4,0.2",
    "aws wire example": "5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4",
    "three rows, one per class": "5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4\n7.7,3.0,6.1,2.3",
    "trailing newline": "5.9,3.0,5.1,1.8\n",
    "missing value": "5.1,,1.4,0.2",
    "far outside the data": "0,0,0,0\n100,100,100,100\n-5,20,0.001,1e3",
}


def binary():
    path = Path(os.environ.get("IRIS_CLI_BIN") or REPO / "target" / "debug" / "iris-cli")
    if not path.is_file():
        pytest.fail(
            f"iris-cli binary not found at {path}: run `cargo build` first "
            "(or set IRIS_CLI_BIN to the binary)",
            pytrace=False,
        )
    return path


def read_exports(proc, log):
    """The export lines `serve` prints first, within STARTUP_SECONDS."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    deadline = time.monotonic() + STARTUP_SECONDS
    while buffer.count(b"\n") < len(EXPORTS):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            log.seek(0)
            pytest.fail(
                f"iris-cli serve did not print its {len(EXPORTS)} export lines in "
                f"{STARTUP_SECONDS} s (exit code {proc.poll()}); stdout so far: {buffer!r}; "
                f"stderr: {log.read()[-2000:]!r}",
                pytrace=False,
            )
        if selector.select(timeout=min(remaining, 1.0)):
            chunk = os.read(proc.stdout.fileno(), 4096)
            buffer += chunk
    selector.close()
    lines = buffer.decode().split("\n")[: len(EXPORTS)]
    values = {}
    for expected, line in zip(EXPORTS, lines):
        match = re.fullmatch(r"export ([A-Z_]+)=(.*)", line)
        assert match and match.group(1) == expected, f"unexpected line {line!r}"
        values[expected] = shlex.split(match.group(2))[0] if match.group(2) else ""
    return values


@contextmanager
def serve(*extra):
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [str(binary()), "serve", "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        try:
            env = read_exports(proc, log)
            # Keep draining stdout so a chatty server never blocks on a full pipe.
            threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
            yield env
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def signed_post(env, url, service, body, headers):
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    SigV4Auth(credentials, service, env["AWS_REGION"]).add_auth(request)
    prepared = request.prepare()
    return http_post(prepared.url, body, dict(prepared.headers))


def container_output(env, data):
    """What the emulated endpoint answers to exactly the request the handler would send."""
    url = f"{env['IRIS_ENDPOINT_URL']}/endpoints/{env['IRIS_ENDPOINT_NAME']}/invocations"
    body = "\n".join(handler.split_rows(data)).encode()
    status, headers, payload = signed_post(
        env, url, "sagemaker", body, {"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert status == 200, (status, payload)
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    return payload.decode(), content_type


def api_gateway_body(env, data):
    body = json.dumps({"data": data}).encode()
    status, headers, payload = signed_post(
        env, env["IRIS_URL"], "execute-api", body, {"Content-Type": "application/json"}
    )
    assert status == 200, (status, payload)
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert content_type.startswith("application/json")
    return payload


def assert_parity(env, endpoint, monkeypatch, data):
    monkeypatch.setenv("ENDPOINT_NAME", env["IRIS_ENDPOINT_NAME"])
    output, content_type = container_output(env, data)
    expected = api_gateway_body(env, data)
    endpoint.queue(output, content_type)
    result = handler.handler({"data": data}, None)
    assert json.dumps(result).encode() == expected
    return result, output


@pytest.fixture(scope="module")
def default_server():
    with serve() as env:
        yield env


@pytest.mark.parametrize("data", list(INPUTS.values()), ids=list(INPUTS))
def test_default_model(default_server, endpoint, monkeypatch, data):
    result, output = assert_parity(default_server, endpoint, monkeypatch, data)
    assert len(result["predictions"]) == len(handler.split_rows(data))
    assert output.count("\n") == len(result["predictions"])


def test_default_model_is_the_aws_wire_reference(default_server):
    output, _ = container_output(default_server, INPUTS["aws wire example"])
    assert output == (
        "0.9531188011169434,0.024485334753990173,0.022395867854356766\n"
        "0.02417280524969101,0.9513594508171082,0.024467801675200462\n"
    )


def exported_model(tmp_dir, objective):
    """Train like the container, package like SageMaker, export with deploy/train."""
    import xgboost as xgb

    hyper = dict(train_sagemaker.HYPERPARAMETERS, objective=objective)
    rows = train_sagemaker.iris_rows()
    data = np.array([[label, *features] for features, label in rows], dtype=np.float32)
    params = {k: v for k, v in hyper.items() if k != "num_round"}
    booster = xgb.train(
        params, xgb.DMatrix(data[:, 1:], label=data[:, 0]), int(hyper["num_round"])
    )
    raw = tmp_dir / "xgboost-model.ubj"
    booster.save_model(str(raw))
    archive = tmp_dir / f"{objective.replace(':', '-')}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = raw.read_bytes()
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    out = tmp_dir / f"{objective.replace(':', '-')}.json"
    export_model.export(archive, out)
    return out, booster


@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_exported_model(tmp_path, endpoint, monkeypatch, objective):
    """`serve --model` on deploy/train's export: same wire format and the trees' own answers."""
    import xgboost as xgb

    model, booster = exported_model(tmp_path, objective)
    data = INPUTS["three rows, one per class"]
    with serve("--model", str(model)) as env:
        result, output = assert_parity(env, endpoint, monkeypatch, data)
    rows = np.array([[float(v) for v in r.split(",")] for r in data.split("\n")], np.float32)
    reference = booster.predict(xgb.DMatrix(rows))
    if objective == "multi:softmax":
        assert output == "".join(f"{float(v)}\n" for v in reference)
        assert [p["probabilities"] for p in result["predictions"]] == [[], [], []]
    else:
        got = [p["probabilities"] for p in result["predictions"]]
        # AWS_WIRE.md section 6: the emulator matches Booster.predict within 6e-8.
        assert np.allclose(got, reference, rtol=0, atol=1e-6)
    assert [p["class_index"] for p in result["predictions"]] == [0, 1, 2]
