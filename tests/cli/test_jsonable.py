"""json_ready: what --json output, records.jsonl and study summaries are made of."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from dastat.jsonable import json_ready


def test_nan_becomes_null_and_scalars_become_python_numbers_at_any_depth():
    value = {"a": math.nan, "b": (np.float32(0.5), torch.tensor(3)), "c": [{"d": -math.inf, "e": "x"}], "f": 2}
    out = json_ready(value)
    assert out == {"a": None, "b": [0.5, 3], "c": [{"d": None, "e": "x"}], "f": 2}
    assert type(out["b"][0]) is float and type(out["b"][1]) is int
    json.dumps(out, allow_nan=False)  # valid strict JSON
