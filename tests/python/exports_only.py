"""boto3 with nothing but `iris-cli serve`'s export lines in the environment.

Run from tests/emulator_http.rs (`aws_cli_and_boto3_use_only_the_export_lines`) after the
lines were sourced: no endpoint URL, region or key is passed here. Prints one line per check.
"""

import datetime
import json

import boto3

runtime = boto3.client("sagemaker-runtime")
r = runtime.invoke_endpoint(
    EndpointName=__import__("os").environ["IRIS_ENDPOINT_NAME"],
    ContentType="text/csv",
    Body="5.1,3.5,1.4,0.2",
)
print("invoke", r["ResponseMetadata"]["HTTPStatusCode"], r["Body"].read().decode().strip())

now = datetime.datetime.now(datetime.timezone.utc)
cw = boto3.client("cloudwatch")
out = cw.get_metric_data(
    MetricDataQueries=[
        {
            "Id": "inv",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SageMaker",
                    "MetricName": "Invocations",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": "iris-xgb"},
                        {"Name": "VariantName", "Value": "AllTraffic"},
                    ],
                },
                "Period": 3600,
                "Stat": "Sum",
            },
        }
    ],
    StartTime=now - datetime.timedelta(hours=2),
    EndTime=now + datetime.timedelta(hours=1),
)
print("metrics", json.dumps(sum(out["MetricDataResults"][0]["Values"])))
