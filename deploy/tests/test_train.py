"""deploy/train: the training data and request, and export_model on archives shaped like the
ones SageMaker writes (no AWS involved)."""

import io
import json
import pickle
import tarfile

import numpy as np
import pytest
import xgboost as xgb

import export_model
import train_sagemaker

# AWS_WIRE.md section 5: the reference model's output for these two rows.
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.6, 3.0, 4.4, 1.4]], dtype=np.float32)
REFERENCE = [
    [0.9531188011169434, 0.024485334753990173, 0.022395867854356766],
    [0.02417280524969101, 0.9513594508171082, 0.024467801675200462],
]


def train_like_the_container(csv_text, hyperparameters):
    """What the built-in container does with a label-first CSV channel and these strings."""
    data = np.loadtxt(io.StringIO(csv_text), delimiter=",", dtype=np.float32)
    params = {k: v for k, v in hyperparameters.items() if k != "num_round"}
    return xgb.train(
        params,
        xgb.DMatrix(data[:, 1:], label=data[:, 0]),
        int(hyperparameters["num_round"]),
    )


@pytest.fixture(scope="module")
def booster():
    csv_text = train_sagemaker.training_csv(train_sagemaker.iris_rows())
    return train_like_the_container(csv_text, train_sagemaker.HYPERPARAMETERS)


def test_training_csv_is_label_first_without_header():
    lines = train_sagemaker.training_csv(train_sagemaker.iris_rows()).splitlines()
    assert len(lines) == 150
    assert lines[0] == "0,5.1,3.5,1.4,0.2"
    assert lines[-1] == "2,5.9,3.0,5.1,1.8"


def test_training_data_and_hyperparameters_give_the_reference_model(booster):
    assert booster.predict(xgb.DMatrix(ROWS)).tolist() == REFERENCE


def test_training_request():
    request = train_sagemaker.training_request(
        "job-1", "image:1.7-1", "arn:aws:iam::123456789012:role/r", "s3://b/p", "ml.m5.large"
    )
    assert request["HyperParameters"] == {
        "objective": "multi:softprob",
        "num_class": "3",
        "max_depth": "3",
        "eta": "0.3",
        "num_round": "10",
        "eval_metric": "mlogloss",
        "tree_method": "hist",
    }
    assert all(isinstance(v, str) for v in request["HyperParameters"].values())
    (channel,) = request["InputDataConfig"]
    assert channel["ContentType"] == "text/csv"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/p/train/"
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://b/p/output/"}


def test_dry_run_prints_the_request(capsys):
    code = train_sagemaker.main(
        ["--bucket", "b", "--role-arn", "arn:aws:iam::1:role/r", "--job-name", "j", "--dry-run"]
    )
    assert code == 0
    request = json.loads(capsys.readouterr().out)
    assert request["TrainingJobName"] == "j"


def model_archive(path, payload, name="xgboost-model"):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def saved_bytes(booster, suffix, tmp_path):
    path = tmp_path / f"model{suffix}"
    booster.save_model(str(path))
    return path.read_bytes()


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_export_from_native_formats(booster, tmp_path, suffix):
    archive = model_archive(tmp_path / "model.tar.gz", saved_bytes(booster, suffix, tmp_path))
    out = tmp_path / "iris-model.json"
    assert export_model.main([str(archive), str(out)]) == 0
    document = json.loads(out.read_text())
    learner = document["learner"]
    assert learner["objective"]["name"] == "multi:softprob"
    assert learner["learner_model_param"]["num_class"] == "3"
    assert learner["learner_model_param"]["num_feature"] == "4"
    assert len(learner["gradient_booster"]["model"]["trees"]) == 30
    reloaded = xgb.Booster(model_file=str(out))
    assert reloaded.predict(xgb.DMatrix(ROWS)).tolist() == REFERENCE


def test_export_pickled_booster_needs_consent(booster, tmp_path, capsys):
    archive = model_archive(tmp_path / "model.tar.gz", pickle.dumps(booster))
    out = tmp_path / "iris-model.json"
    assert export_model.main([str(archive), str(out)]) == 1
    assert "--allow-pickle" in capsys.readouterr().err
    assert not out.exists()
    assert export_model.main([str(archive), str(out), "--allow-pickle"]) == 0
    assert xgb.Booster(model_file=str(out)).predict(xgb.DMatrix(ROWS)).tolist() == REFERENCE


def test_export_rejects_an_archive_without_the_model(tmp_path, capsys):
    archive = model_archive(tmp_path / "model.tar.gz", b"{}", name="something-else")
    assert export_model.main([str(archive), str(tmp_path / "m.json")]) == 1
    assert "expected exactly one 'xgboost-model'" in capsys.readouterr().err


def test_export_rejects_garbage_and_a_non_json_output(tmp_path, capsys):
    archive = model_archive(tmp_path / "model.tar.gz", b"not a model")
    assert export_model.main([str(archive), str(tmp_path / "m.json")]) == 1
    assert "xgboost cannot read" in capsys.readouterr().err
    assert export_model.main([str(archive), str(tmp_path / "m.bin")]) == 1
    assert "must end in .json" in capsys.readouterr().err
    (tmp_path / "plain").write_bytes(b"not a tar")
    assert export_model.main([str(tmp_path / "plain"), str(tmp_path / "m.json")]) == 1
    assert "not a readable tar archive" in capsys.readouterr().err
