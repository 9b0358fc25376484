"""Make the test model: an MLflow-format scikit-learn classifier trained on iris (which scikit-learn ships, so
nothing is downloaded), written the way `mlflow.sklearn.log_model` stores it in the registry's artifact store
(MinIO for the stack). Run with the MLServer venv's Python (venv.sh):

    python make_model.py OUT_DIR

OUT_DIR gets the model (MLmodel, model.pkl, requirements) and expected.json: a few rows and the classes the
trained model predicts for them, which a test compares with what MLServer answers over V2 REST.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main(out: Path) -> None:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
    rows = x[[0, 60, 120]]
    signature = infer_signature(x, model.predict(x))
    mlflow.sklearn.save_model(model, str(out), signature=signature, serialization_format="cloudpickle")
    (out / "expected.json").write_text(
        json.dumps({"rows": rows.tolist(), "classes": model.predict(rows).tolist()}), encoding="utf-8"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
