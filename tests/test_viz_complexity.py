"""The complexity example (examples/gradient_cost.py) on tiny sizes: its three gradients agree,
and it writes the log-log picture and the JSON with the fitted slopes."""

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gradient_cost.py"


@pytest.mark.cpu_only
def test_gradient_cost_example_writes_png_and_json(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    spec = importlib.util.spec_from_file_location("gradient_cost", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--out", str(tmp_path), "--dims", "2,4,8", "--width", "8", "--repeat", "1"])
    written = json.loads((tmp_path / "gradient_cost.json").read_text())
    assert written["fitted_log_log_slopes"] == pytest.approx(result["fitted_log_log_slopes"])
    assert set(written["fitted_log_log_slopes"]) == set(example.METHODS)
    assert [row["d"] for row in written["rows"]] == [2, 4, 8]
    for row in written["rows"]:
        assert row["relative_difference"]["forward vs reverse"] < 1e-12
        assert row["relative_difference"]["finite differences vs reverse"] < 1e-4
        assert all(cost > 0 for cost in row["cost_in_evaluations"].values())
    assert (tmp_path / "gradient_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        example.main(["--dims", "4,16", "--width", "8"])  # d above the width
