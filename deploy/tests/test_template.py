"""deploy/template.yaml: lint-clean, and the security and URL contracts hold."""

import json
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


def load():
    return cfn_yaml.load(str(TEMPLATE))


def test_cfn_lint_reports_nothing_not_even_informational():
    matches = lint_file(TEMPLATE, config=ManualArgs(include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_method_requires_sigv4():
    method = load()["Resources"]["PredictMethod"]["Properties"]
    assert method["HttpMethod"] == "POST"
    assert method["AuthorizationType"] == "AWS_IAM"


def test_function_role_is_least_privilege():
    resources = load()["Resources"]
    assert resources["Function"]["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    role = resources["FunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    actions = sorted(
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["logs:CreateLogStream", "logs:PutLogEvents", "sagemaker:InvokeEndpoint"]
    assert all(s["Effect"] == "Allow" for s in statements)
    invoke = next(s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint")
    resource = json.dumps(invoke["Resource"])
    assert "endpoint/${EndpointName}" in resource and "*" not in resource


def test_function_environment_names_the_endpoint():
    env = load()["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert env["ENDPOINT_NAME"] == {"Ref": "EndpointName"}


def test_stage_throttling_comes_from_parameters():
    stage = load()["Resources"]["Stage"]["Properties"]
    setting = stage["MethodSettings"][0]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert stage["StageName"] == {"Ref": "StageName"}


def test_outputs():
    outputs = load()["Outputs"]
    assert outputs["InvokeUrl"]["Value"] == {
        "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${Stage}/irispredict"
    }
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    # What `iris-cli bench --cloudwatch --stack-outputs` reads: the API's name as the Api
    # resource sets it, and the function.
    api_name = load()["Resources"]["Api"]["Properties"]["Name"]
    assert outputs["ApiName"]["Value"] == api_name
    assert outputs["FunctionName"]["Value"] == {"Ref": "Function"}


def test_non_proxy_selection_patterns_match_the_handler_messages():
    """API Gateway matches the whole errorMessage (Java regex; this one is also valid Python)."""
    import re

    import handler

    responses = load()["Resources"]["PredictMethod"]["Properties"]["Integration"][
        "IntegrationResponses"
    ]["Fn::If"][2]
    patterns = {r["StatusCode"]: re.compile(r["SelectionPattern"]) for r in responses[1:]}

    def status(message):
        hits = [code for code, p in patterns.items() if p.fullmatch(message)]
        assert len(hits) <= 1, message
        return hits[0] if hits else "200"

    assert status(str(handler.BadRequest('"data" is empty'))) == "400"
    assert status(str(handler.EndpointError("endpoint iris-xgb does not exist"))) == "502"
    assert status("2024-01-01T00:00:00Z 1b2c Task timed out after 28.00 seconds") == "502"
    assert status("") == "200"  # success: no errorMessage
    assert responses[0] == {"StatusCode": "200"}
