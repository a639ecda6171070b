#!/usr/bin/env python3
"""Train the iris XGBoost classifier with SageMaker's built-in XGBoost container (plain boto3,
no SageMaker SDK needed), download its model.tar.gz and, optionally, deploy it to a real-time
endpoint that deploy/template.yaml can front.

    python3 deploy/train/train_sagemaker.py --bucket MY-BUCKET \
        --role-arn arn:aws:iam::123456789012:role/MySageMakerRole \
        --image-uri 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1 \
        --download model.tar.gz [--deploy-endpoint iris-xgb]

Use --dry-run to print the CreateTrainingJob request without calling AWS.
"""

import argparse
import csv
import io
import json
import sys
import time

# Same settings as the model in AWS_WIRE.md and the emulator's embedded model. tree_method is
# pinned because XGBoost 1.x defaults to "exact" for small data and 2.x+ to "hist".
HYPERPARAMETERS = {
    "objective": "multi:softprob",
    "num_class": "3",
    "max_depth": "3",
    "eta": "0.3",
    "num_round": "10",
    "eval_metric": "mlogloss",
    "tree_method": "hist",
}
XGBOOST_VERSION = "1.7-1"


def iris_rows():
    """(features, label) for the 150 iris rows, in the dataset's order (from scikit-learn)."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    return [([float(v) for v in x], int(y)) for x, y in zip(iris.data, iris.target)]


def training_csv(rows):
    """SageMaker XGBoost CSV: label first, no header, one row per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for features, label in rows:
        writer.writerow([label, *[repr(v) for v in features]])
    return out.getvalue()


def training_request(job_name, image_uri, role_arn, s3_prefix, instance_type):
    channel = lambda name: {  # noqa: E731
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"{s3_prefix}/{name}/",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": dict(HYPERPARAMETERS),
        # All 150 rows: the point is a reference model identical to the local one, not a
        # held-out score (iris is too small for that to mean much).
        "InputDataConfig": [channel("train")],
        "OutputDataConfig": {"S3OutputPath": f"{s3_prefix}/output/"},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 5,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
    }


def resolve_image_uri(args, region):
    if args.image_uri:
        return args.image_uri
    try:
        from sagemaker import image_uris
    except ImportError:
        sys.exit(
            "train_sagemaker: error: pass --image-uri (the built-in XGBoost image for your "
            "region, see deploy/train/README.md) or pip install sagemaker to look it up"
        )
    return image_uris.retrieve("xgboost", region, XGBOOST_VERSION)


def s3_split(uri):
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def deploy_endpoint(sm, name, image_uri, model_data, role_arn, instance_type):
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": image_uri, "ModelDataUrl": model_data},
        ExecutionRoleArn=role_arn,
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": instance_type,
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    print(f"waiting for endpoint {name} (usually 5-10 minutes)...", file=sys.stderr)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", required=True, help="S3 bucket for data and model output")
    parser.add_argument("--prefix", default="iris-cli/iris-xgb", help="S3 key prefix")
    parser.add_argument("--role-arn", required=True, help="SageMaker execution role")
    parser.add_argument("--region", help="default: the AWS CLI/SDK default region")
    parser.add_argument("--image-uri", help="built-in XGBoost image (see README)")
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--job-name", default=f"iris-xgb-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--download", metavar="FILE", help="save model.tar.gz here")
    parser.add_argument("--deploy-endpoint", metavar="NAME", help="also create this endpoint")
    parser.add_argument("--endpoint-instance-type", default="ml.m5.large")
    parser.add_argument("--dry-run", action="store_true", help="print the request and stop")
    args = parser.parse_args(argv)

    s3_prefix = f"s3://{args.bucket}/{args.prefix.strip('/')}"
    if args.dry_run:
        image = args.image_uri or "<built-in XGBoost image URI>"
        request = training_request(args.job_name, image, args.role_arn, s3_prefix, args.instance_type)
        print(json.dumps(request, indent=2))
        return 0

    import boto3

    session = boto3.session.Session(region_name=args.region)
    region = session.region_name
    image = resolve_image_uri(args, region)
    s3 = session.client("s3")
    sm = session.client("sagemaker")

    key = f"{args.prefix.strip('/')}/train/train.csv"
    s3.put_object(Bucket=args.bucket, Key=key, Body=training_csv(iris_rows()).encode())
    sm.create_training_job(
        **training_request(args.job_name, image, args.role_arn, s3_prefix, args.instance_type)
    )
    print(f"training job {args.job_name} started; waiting...", file=sys.stderr)
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=args.job_name)
    job = sm.describe_training_job(TrainingJobName=args.job_name)
    if job["TrainingJobStatus"] != "Completed":
        sys.exit(f"train_sagemaker: error: job {job['TrainingJobStatus']}: {job.get('FailureReason')}")
    model_data = job["ModelArtifacts"]["S3ModelArtifacts"]
    print(f"model: {model_data}", file=sys.stderr)

    if args.download:
        bucket, key = s3_split(model_data)
        s3.download_file(bucket, key, args.download)
        print(
            f"saved {args.download}; export it for iris-cli with:\n"
            f"  python3 deploy/train/export_model.py {args.download} iris-model.json",
            file=sys.stderr,
        )
    if args.deploy_endpoint:
        deploy_endpoint(
            sm, args.deploy_endpoint, image, model_data, args.role_arn, args.endpoint_instance_type
        )
        print(f"endpoint {args.deploy_endpoint} is InService", file=sys.stderr)
    print(model_data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
