"""Shared set-up: fake AWS settings before anything creates a boto3 client, import paths."""

import os
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1]
REPO = DEPLOY.parent

# The handler builds its client at import time, as it does on a Lambda cold start; moto must be
# imported first so its botocore hook is part of that client, and no real credentials may leak in.
for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(key, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_REGION"] = "us-east-1"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

import moto  # noqa: E402,F401  (import order matters, see above)

sys.path.insert(0, str(DEPLOY / "lambda"))
sys.path.insert(0, str(DEPLOY / "train"))

import support  # noqa: E402
from moto import mock_aws  # noqa: E402


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "iris-xgb")
    monkeypatch.delenv("CLASS_NAMES", raising=False)
    monkeypatch.delenv("ACCEPT", raising=False)
    with mock_aws():
        yield support.FakeEndpoint()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "emulator: needs the built iris-cli binary (IRIS_CLI_BIN or target/debug/iris-cli)",
    )
