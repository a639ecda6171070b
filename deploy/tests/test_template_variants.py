"""deploy/template-http-api.yaml and deploy/template-function-url.yaml: lint-clean, IAM-only,
and the URL, timeout and payload-format contracts the client and the emulator rely on."""

from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml

DEPLOY = Path(__file__).resolve().parents[1]
HTTP_API = DEPLOY / "template-http-api.yaml"
FUNCTION_URL = DEPLOY / "template-function-url.yaml"


def load(path):
    return cfn_yaml.load(str(path))


@pytest.mark.parametrize("path", [HTTP_API, FUNCTION_URL], ids=["http-api", "function-url"])
def test_cfn_lint_reports_nothing_not_even_informational(path):
    matches = lint_file(path, config=ManualArgs(include_checks=["I"]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("path", [HTTP_API, FUNCTION_URL], ids=["http-api", "function-url"])
def test_same_function_and_least_privilege_role_as_the_rest_api(path):
    rest = load(DEPLOY / "template.yaml")["Resources"]
    variant = load(path)["Resources"]
    # Only the FunctionTimeout parameter's bound differs between the templates.
    for name in ("Function", "FunctionRole", "FunctionLogGroup"):
        assert variant[name] == rest[name], name


def test_http_api_route_is_iam_with_payload_format_2():
    r = load(HTTP_API)["Resources"]
    assert r["Api"]["Properties"]["ProtocolType"] == "HTTP"
    route = r["PredictRoute"]["Properties"]
    assert route["RouteKey"] == "POST /irispredict"
    assert route["AuthorizationType"] == "AWS_IAM"
    integration = r["Integration"]["Properties"]
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationType"] == "AWS_PROXY"
    # HTTP API's hard limit; the emulator's --http-api-timeout default.
    assert integration["TimeoutInMillis"] == 30000
    assert r["Stage"]["Properties"]["StageName"] == "$default"
    out = load(HTTP_API)["Outputs"]["InvokeUrl"]["Value"]
    assert out == {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/irispredict"}
    statement = r["InvokePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"]["Fn::Sub"].endswith("${Api}/$default/POST/irispredict")


def test_function_url_is_aws_iam():
    t = load(FUNCTION_URL)
    r = t["Resources"]
    assert r["FunctionUrl"]["Type"] == "AWS::Lambda::Url"
    assert r["FunctionUrl"]["Properties"]["AuthType"] == "AWS_IAM"
    assert not any(v["Type"].startswith("AWS::ApiGateway") for v in r.values())
    actions = sorted(
        s["Action"] for s in r["InvokePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    )
    assert actions == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert t["Outputs"]["FunctionUrl"]["Value"] == {"Fn::GetAtt": ["FunctionUrl", "FunctionUrl"]}
