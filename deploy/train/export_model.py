#!/usr/bin/env python3
"""Turn the model.tar.gz of a SageMaker XGBoost training job into the JSON model that
`iris-cli serve --model FILE` loads, so the local emulator serves exactly the cloud's trees.

    python3 deploy/train/export_model.py model.tar.gz iris-model.json

The archive holds one file, `xgboost-model`. Depending on the container version it is XGBoost's
JSON, UBJSON or legacy binary format (loaded directly) or, for the oldest containers (0.90-x,
1.0-1), a pickled Booster: unpickling runs code from the file, so that needs --allow-pickle and
should only be used on your own training output.
"""

import argparse
import pickle
import sys
import tarfile
from pathlib import PurePosixPath

import xgboost as xgb

MEMBER = "xgboost-model"
PICKLE_MAGIC = b"\x80"  # pickle protocol 2 and later start with PROTO


class ExportError(Exception):
    pass


def read_model_bytes(archive):
    """The bytes of `xgboost-model` inside a SageMaker model.tar.gz (any compression)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [
                m for m in tar.getmembers() if m.isfile() and PurePosixPath(m.name).name == MEMBER
            ]
            if len(members) != 1:
                names = ", ".join(m.name for m in tar.getmembers()) or "nothing"
                raise ExportError(
                    f"{archive}: expected exactly one '{MEMBER}' file, found {len(members)} "
                    f"(archive holds: {names})"
                )
            return tar.extractfile(members[0]).read()
    except (tarfile.TarError, OSError) as exc:
        raise ExportError(f"{archive}: not a readable tar archive: {exc}") from None


def load_booster(raw, allow_pickle=False):
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
        return booster
    except xgb.core.XGBoostError as exc:
        if not raw.startswith(PICKLE_MAGIC):
            raise ExportError(f"xgboost cannot read '{MEMBER}': {exc}") from None
    if not allow_pickle:
        raise ExportError(
            f"'{MEMBER}' is a pickled Booster (old SageMaker XGBoost container). Unpickling runs "
            "code from the file: rerun with --allow-pickle only if it is your own training output."
        )
    obj = pickle.loads(raw)  # noqa: S301 - explicitly allowed by the user, see above
    if isinstance(obj, xgb.Booster):
        return obj
    if hasattr(obj, "get_booster"):
        return obj.get_booster()
    raise ExportError(f"the pickle holds a {type(obj).__name__}, not an XGBoost Booster")


def describe(booster):
    """A one-line summary read back from the saved JSON config."""
    import json

    config = json.loads(booster.save_config())
    learner = config["learner"]
    return (
        f"objective={learner['objective']['name']} "
        f"num_class={learner['learner_model_param']['num_class']} "
        f"num_feature={learner['learner_model_param']['num_feature']} "
        f"rounds={booster.num_boosted_rounds()}"
    )


def export(archive, output, allow_pickle=False):
    if not str(output).endswith(".json"):
        # XGBoost chooses the format from the extension; iris-cli reads JSON only.
        raise ExportError(f"{output}: the output name must end in .json")
    booster = load_booster(read_model_bytes(archive), allow_pickle)
    booster.save_model(str(output))
    return booster


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", help="model.tar.gz from the training job's S3 output")
    parser.add_argument("output", help="JSON model to write, e.g. iris-model.json")
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept a pickled Booster (runs code from the file; own output only)",
    )
    args = parser.parse_args(argv)
    try:
        booster = export(args.archive, args.output, args.allow_pickle)
    except ExportError as exc:
        print(f"export_model: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {describe(booster)}", file=sys.stderr)
    print(f"serve it locally with: iris-cli serve --model {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
