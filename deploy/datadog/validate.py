#!/usr/bin/env python3
"""Load onetrail's Datadog assets into the official datadog-api-client model classes.

Usage: validate.py DEPLOY_DATADOG_DIR

`*.pipeline.json` -> v1 LogsPipeline, `*.dashboard.json` -> v1 Dashboard,
`monitors/*.json` -> v1 Monitor, with the client's type checking
(`validate_and_convert_types`, as for an API response). The client accepts a oneOf
member it cannot match (a processor or widget of an unknown `type`, a misspelt key) as an
"unparsed" object instead of failing, so the loaded tree is also walked: any unparsed
object, or any key the model does not declare, is an error. Exits 1 on any error.
"""

import json
import sys
from pathlib import Path

from datadog_api_client import Configuration
from datadog_api_client.model_utils import (
    ModelComposed,
    ModelNormal,
    OpenApiModel,
    validate_and_convert_types,
)
from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.logs_pipeline import LogsPipeline
from datadog_api_client.v1.model.monitor import Monitor


def walk(obj, path, problems):
    if isinstance(obj, OpenApiModel):
        if getattr(obj, "_unparsed", False):
            problems.append(f"{path}: does not match any {type(obj).__name__} variant")
            return
        if isinstance(obj, ModelComposed):
            inner = obj.get_oneof_instance() if hasattr(obj, "get_oneof_instance") else None
            if inner is None:
                problems.append(f"{path}: no {type(obj).__name__} variant matched")
                return
            walk(inner, path, problems)
            return
        declared = set(type(obj).attribute_map) if hasattr(type(obj), "attribute_map") else set()
        for k, v in obj._data_store.items():
            if declared and k not in declared:
                problems.append(f"{path}.{k}: not a {type(obj).__name__} attribute")
            walk(v, f"{path}.{k}", problems)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            walk(v, f"{path}[{i}]", problems)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            walk(v, f"{path}.{k}", problems)


def check(path, model):
    data = json.loads(path.read_text())
    problems = []
    try:
        loaded = validate_and_convert_types(
            data, (model,), [path.name], True, True, configuration=Configuration()
        )
    except Exception as e:  # the client's ApiTypeError/ApiValueError
        return [f"{path.name}: {type(e).__name__}: {e}"]
    if not isinstance(loaded, model):
        return [f"{path.name}: loaded as {type(loaded).__name__}, not {model.__name__}"]
    walk(loaded, path.name, problems)
    return problems


def main():
    root = Path(sys.argv[1])
    files = (
        [(p, LogsPipeline) for p in sorted(root.glob("*.pipeline.json"))]
        + [(p, Dashboard) for p in sorted(root.glob("*.dashboard.json"))]
        + [(p, Monitor) for p in sorted((root / "monitors").glob("*.json"))]
    )
    problems = []
    for p, model in files:
        found = check(p, model)
        print(f"{'FAIL' if found else 'ok  '} {p.relative_to(root)} as {model.__name__}")
        problems += found
    print(f"{len(files)} files")
    for pr in problems:
        print("FAIL", pr)
    sys.exit(1 if problems or not files else 0)


if __name__ == "__main__":
    main()
