"""``autodiff landscape surface`` and ``autodiff landscape connect`` on checkpoints written by
``autodiff train`` (rebuilt from the metrics.json beside them)."""

import json

import pytest

from autodiff.cli import main
from nn.experiments import train_classifier

pytestmark = pytest.mark.cpu_only


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    options = {"arch": [64, 8, 10], "lr": 0.1, "dtype": "float64", "progress": False}
    for name, seed, epochs in (("a1", 0, 1), ("a2", 0, 2), ("a", 0, 3), ("b", 1, 3)):
        train_classifier(epochs=epochs, seed=seed, out=root / name, **options)
    return root


def test_surface_command_with_random_directions_and_with_a_trajectory(runs, capsys):
    out = runs / "surface"
    common = ["--examples", "200", "--grid", "4", "--workers", "0", "--no-progress"]
    assert (
        main(["landscape", "surface", "--checkpoint", str(runs / "a/model.npz"), "--out", str(out), *common])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    record = json.loads((out / "surface.json").read_text())
    assert record["info"]["directions"] == "random, filter, bias zero"
    assert min(min(row) for row in record["values"]["loss"]) == summary["min_loss"]
    assert len(record["values"]["accuracy"]) == 4 and (out / "contourf.png").is_file()
    trajectory = [str(runs / n / "model.npz") for n in ("a1", "a2")]
    args = ["--checkpoint", str(runs / "a/model.npz"), "--trajectory", *trajectory, "--out", str(out / "pca")]
    assert main(["landscape", "surface", *args, *common]) == 0
    record = json.loads((out / "pca/surface.json").read_text())
    assert record["info"]["directions"] == "trajectory PCA" and len(record["trajectory"]) == 3
    assert record["trajectory"][-1] == [0.0, 0.0]


def test_connect_command_writes_the_path_and_the_line(runs, capsys):
    out = runs / "connect"
    checkpoints = [str(runs / "a/model.npz"), str(runs / "b/model.npz")]
    args = ["--checkpoints", *checkpoints, "--steps", "20", "--points", "9", "--examples", "200"]
    assert main(["landscape", "connect", *args, "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    record = json.loads((out / "path.json").read_text())
    assert [r["method"] for r in record] == ["bezier", "linear"]
    assert summary["barrier"] == record[0]["barrier"] < summary["linear_barrier"] == record[1]["barrier"]
    assert (out / "path.png").is_file()


def test_landscape_command_errors(runs, tmp_path, capsys):
    assert (
        main(["landscape", "surface", "--checkpoint", str(tmp_path / "none.npz"), "--out", str(tmp_path)])
        == 2
    )
    assert "no checkpoint" in capsys.readouterr().err
    (tmp_path / "model.npz").write_bytes((runs / "a/model.npz").read_bytes())  # no metrics.json beside it
    assert (
        main(["landscape", "surface", "--checkpoint", str(tmp_path / "model.npz"), "--out", str(tmp_path)])
        == 2
    )
    assert "give --data --arch" in capsys.readouterr().err
    assert main(["landscape"]) == 2  # a study is required: one line, exit status 2
    assert "landscape" in capsys.readouterr().err


def test_scheduler_option_sends_the_evaluations_to_a_dask_cluster(runs, capsys):
    distributed = pytest.importorskip("distributed")
    common = ["--examples", "100", "--grid", "3", "--dims", "1", "--no-progress"]
    surfaces = {}
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        for name, where in (
            ("serial", ["--workers", "0"]),
            ("dask", ["--scheduler", cluster.scheduler_address]),
        ):
            out = runs / f"surface-{name}"
            args = ["--checkpoint", str(runs / "a/model.npz"), "--out", str(out), *common, *where]
            assert main(["landscape", "surface", *args]) == 0
            surfaces[name] = json.loads((out / "surface.json").read_text())["values"]
    assert surfaces["dask"] == surfaces["serial"]


@pytest.mark.cpu_only
@pytest.mark.parametrize("address", ["nonsense", "tcp:/host:1", "http://host:8786", "tcp://"])
def test_a_malformed_scheduler_address_is_refused_in_one_line(address, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["landscape", "ntk", "--widths", "4", "--out", str(out), "--scheduler", address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a Dask scheduler address: give tcp://host:port" in err[0]
    assert not out.exists()
    from landscape.sweeps import scheduler_address

    assert scheduler_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
