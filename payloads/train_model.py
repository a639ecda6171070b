#!/usr/bin/env python3
"""Train the XGBoost models in payloads/model/ and write the reference outputs in
payloads/reference/ that the Rust evaluator and float formatter are tested against.

    pip install xgboost-cpu scikit-learn numpy
    python3 payloads/train_model.py

Deterministic: fixed seeds, single-threaded training. Running it again rewrites the same
files (given the same xgboost and numpy versions; see payloads/README.md).
"""

import json
import os
import shutil
import struct

import numpy as np
import sklearn
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.path.join(HERE, "model")
REF_DIR = os.path.join(HERE, "reference")
IRIS_CSV = os.path.join(HERE, "iris.csv")
SEED = 20240601
RANDOM_ROWS = 1000


def rep(v):
    """What the SageMaker container prints: repr of the float32 widened to float64."""
    return repr(float(np.float32(v)))


def copy_iris():
    """payloads/iris.csv is scikit-learn's copy, byte for byte."""
    src = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "iris.csv")
    if not os.path.exists(IRIS_CSV):
        shutil.copyfile(src, IRIS_CSV)
    with open(src, "rb") as a, open(IRIS_CSV, "rb") as b:
        if a.read() != b.read():
            raise SystemExit(f"{IRIS_CSV} differs from scikit-learn's {src}")


def load_iris():
    """Returns (raw text cells, float32 features, int labels) for the 150 rows."""
    with open(IRIS_CSV) as f:
        lines = f.read().splitlines()
    head = lines[0].split(",")
    n, nf = int(head[0]), int(head[1])
    cells = [line.split(",") for line in lines[1 : n + 1]]
    assert len(cells) == n
    x = np.array([[float(c) for c in row[:nf]] for row in cells], dtype=np.float32)
    y = np.array([int(row[nf]) for row in cells], dtype=np.int32)
    return cells, x, y


def write_friendly_copies(cells):
    with open(os.path.join(HERE, "flowers.csv"), "w", newline="\n") as f:
        f.write("id,sepal_length,sepal_width,petal_length,petal_width\n")
        for i, row in enumerate(cells, start=1):
            f.write(f"{i}," + ",".join(row[:4]) + "\n")
    with open(os.path.join(HERE, "predict.json"), "w", newline="\n") as f:
        f.write('{"data":"' + ",".join(cells[0][:4]) + '"}\n')


def with_missing(x, rng, frac):
    """A copy of x with about `frac` of the cells set to NaN (missing)."""
    x = x.copy()
    x[rng.random(x.shape) < frac] = np.nan
    return x


def train(params, x, y, rounds):
    base = {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}
    base.update(params)
    return xgb.train(base, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=rounds)


def split_thresholds(model_path, num_features):
    """Per feature, the split conditions the model uses (to test the strict `<`)."""
    with open(model_path) as f:
        model = json.load(f)
    out = [[] for _ in range(num_features)]
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feat, cond in zip(
            tree["left_children"], tree["split_indices"], tree["split_conditions"]
        ):
            if left != -1:
                out[feat].append(np.float32(cond))
    return out


def random_rows(x_iris, thresholds, rng):
    """Rows that exercise every path: in-range values, NaN (~10% of cells), values exactly
    on a split threshold, and values far outside the training range."""
    nf = x_iris.shape[1]
    lo, hi = np.nanmin(x_iris, axis=0), np.nanmax(x_iris, axis=0)
    rows = np.empty((RANDOM_ROWS, nf), dtype=np.float32)
    for j in range(nf):
        kind = rng.random(RANDOM_ROWS)
        span = hi[j] - lo[j]
        uniform = rng.uniform(lo[j] - 0.25 * span, hi[j] + 0.25 * span, RANDOM_ROWS)
        far = rng.choice(np.array([-1e6, -50.0, -1.0, 0.0, 100.0, 3.4e38, -3.4e38]), RANDOM_ROWS)
        ths = thresholds[j] if thresholds[j] else [np.float32(0.0)]
        on_split = rng.choice(np.array(ths, dtype=np.float32), RANDOM_ROWS)
        col = np.where(kind < 0.70, uniform, 0.0).astype(np.float32)
        col = np.where((kind >= 0.70) & (kind < 0.80), np.float32(np.nan), col)
        col = np.where((kind >= 0.80) & (kind < 0.92), on_split, col)
        col = np.where(kind >= 0.92, far, col)
        rows[:, j] = col
    return rows.astype(np.float32)


def write_reference(name, x, booster):
    pred = booster.predict(xgb.DMatrix(x, missing=np.nan))
    pred = pred.reshape(len(x), -1)
    nf, no = x.shape[1], pred.shape[1]
    path = os.path.join(REF_DIR, name)
    with open(path, "w", newline="\n") as f:
        f.write(",".join([f"x{i}" for i in range(nf)] + [f"y{i}" for i in range(no)]) + "\n")
        for xr, pr in zip(x, pred):
            f.write(",".join([rep(v) for v in xr] + [rep(v) for v in pr]) + "\n")


def write_pyrepr(rng):
    """10 000 float32 values: the bit pattern in hex and Python's repr(float(v))."""
    n = 10_000
    parts = [
        rng.random(3000),  # uniform [0, 1)
        rng.random(800) * 10.0 ** -rng.integers(5, 10, 800),  # 1e-5 .. 1e-9
        10.0 ** rng.uniform(-45, -30, 200),  # down to the float32 subnormals
        10.0 ** rng.uniform(12, 38, 1000),  # large, around the 1e16 switch and beyond
        -(10.0 ** rng.uniform(-12, 20, 1500)),  # negatives
        rng.integers(-100_000, 100_000, 800).astype(np.float64),  # integers
        rng.integers(0, 40, 300).astype(np.float64) / 8.0,  # short binary fractions
        10.0 ** rng.integers(-8, 20, 300).astype(np.float64),  # exact-ish powers of ten
        rng.uniform(1e-5, 1e-3, 500),  # around the 1e-4 switch
        rng.uniform(1e15, 1e17, 500),  # around the 1e16 switch
        # odd / 2**k: exact decimals ending in 5, where shortest-digit ties are broken
        (rng.integers(0, 2**16, 600) * 2 + 1) / 2.0 ** rng.integers(16, 22, 600),
    ]
    vals = np.concatenate(parts).astype(np.float32)
    bits = rng.integers(0, 2**32, n - len(vals) - 8, dtype=np.uint64).astype(np.uint32)
    raw = bits.view(np.float32)
    special = np.array(
        [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.4028235e38], dtype=np.float32
    )
    vals = np.concatenate([special, vals, raw]).astype(np.float32)
    assert len(vals) == n, len(vals)
    with open(os.path.join(REF_DIR, "pyrepr_f32.txt"), "w", newline="\n") as f:
        for v in vals:
            (b,) = struct.unpack("<I", struct.pack("<f", v))
            f.write(f"{b:08x} {repr(float(v))}\n")


def main():
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(REF_DIR, exist_ok=True)
    copy_iris()
    cells, x, y = load_iris()
    write_friendly_copies(cells)
    rng = np.random.default_rng(SEED)

    # name -> (booster, features the model sees for the 150 iris rows)
    models = {}
    # The classifier the SageMaker endpoint serves: all 150 rows, defaults otherwise.
    models["iris-xgb"] = (
        train({"objective": "multi:softprob", "num_class": 3}, x, y, 10),
        x,
    )
    models["iris-xgb-softmax"] = (
        train({"objective": "multi:softmax", "num_class": 3}, x, y, 10),
        x,
    )
    # Small models for the evaluator's other objectives, trained with missing values so
    # that default_left is learned from data, and one with 3 features.
    x_bin = with_missing(x, rng, 0.15)
    models["test-binary-logistic"] = (
        train({"objective": "binary:logistic"}, x_bin, (y == 1).astype(np.float32), 8),
        x,
    )
    x_reg = with_missing(x[:, :3], rng, 0.15)
    models["test-reg-squarederror"] = (
        train({"objective": "reg:squarederror", "max_depth": 2}, x_reg, x[:, 3], 8),
        x[:, :3],
    )

    for name, (booster, x_iris) in models.items():
        path = os.path.join(MODEL_DIR, name + ".json")
        booster.save_model(path)
        ths = split_thresholds(path, x_iris.shape[1])
        write_reference(f"{name}.iris.csv", x_iris, booster)
        write_reference(f"{name}.random.csv", random_rows(x_iris, ths, rng), booster)

    write_pyrepr(rng)

    b = models["iris-xgb"][0]
    q = np.array([[5.1, 3.5, 1.4, 0.2], [6.6, 3.0, 4.4, 1.4]], dtype=np.float32)
    for row in b.predict(xgb.DMatrix(q)):
        print(",".join(rep(v) for v in row))
    print(f"xgboost {xgb.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
