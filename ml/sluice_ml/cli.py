"""What `sluice ml` runs in the ML environment: score a file with a registered model, roll the champion back, show
the registry. `sluice ml ...` (the main environment's CLI) hands its arguments here."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import tempfile
from pathlib import Path

from sluice.settings import load_settings
from sluice_ml import registry


def predict(args: argparse.Namespace) -> int:
    from sluice_ml.models import load_model
    from sluice_ml.predict import predict_rows, read_rows

    settings = load_settings()
    client = registry.connect(settings.mlflow_url)
    name = args.model.rpartition("@")[0] or settings.ml_model_name
    version = registry.resolve(client, settings.ml_model_name, args.model)
    with args.input.open(encoding="utf-8") as lines:
        rows = read_rows(lines, str(args.input))
    with tempfile.TemporaryDirectory() as tmp:
        predictions = predict_rows(load_model(registry.download(name, version, Path(tmp))), rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as out:
        for prediction in predictions:
            out.write(json.dumps({**prediction, "model": f"{name}/{version}"}, ensure_ascii=False) + "\n")
    print(f"scored {len(rows)} rows of {args.input} with {name} version {version} into {args.output}")
    return 0


def rollback(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = registry.connect(settings.mlflow_url)
    done = registry.rollback(client, settings.ml_model_name, args.by, args.reason)
    print(f"{done.model_name}: champion moved from version {done.from_version} back to {done.to_version}")
    return 0


def show(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = registry.connect(settings.mlflow_url)
    name = settings.ml_model_name
    aliases = {alias: registry.alias_version(client, name, alias) for alias in (registry.CHAMPION, registry.CHALLENGER)}
    print(json.dumps({"model": name, "aliases": aliases, "ui": f"{settings.mlflow_url}/#/models/{name}"}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice ml")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="score a JSON-lines file of listings")
    p.add_argument("--input", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--model", default=registry.CHAMPION, help="NAME@ALIAS, NAME@VERSION, ALIAS or VERSION")
    p.set_defaults(run=predict)
    r = commands.add_parser("rollback", help="move the champion alias back to the previous champion")
    r.add_argument("--reason", required=True)
    r.add_argument("--by", default=getpass.getuser())
    r.set_defaults(run=rollback)
    commands.add_parser("show", help="the registered model's champion and challenger").set_defaults(run=show)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
