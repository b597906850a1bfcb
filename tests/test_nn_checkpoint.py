"""Training checkpoints: resuming (in a fresh process) is bit-identical to never stopping;
``autodiff train --resume``; the MNIST-1D defaults of ``autodiff train``; History.plot."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
import nn
from nn import experiments
from nn.cli import main as train_main
from nn.io import read

pytestmark = pytest.mark.cpu_only
GEN = ad.random.Generator
ROOT = Path(__file__).resolve().parents[1]


def build(shift=0):
    """A model with dropout and batch norm, Adam, a schedule and a shuffling loader; ``shift``
    changes every seed (what a checkpoint must override)."""
    model = nn.Sequential(
        nn.Linear(4, 8, generator=GEN(1 + shift)),
        nn.ReLU(),
        nn.Dropout(0.2, generator=GEN(2 + shift)),
        nn.BatchNorm1d(8),
        nn.Linear(8, 3, generator=GEN(3 + shift)),
    )
    opt = nn.optim.Adam(model.parameters(), lr=0.05)
    sched = nn.optim.lr_scheduler.StepLR(opt, 2, 0.7)
    rng = np.random.default_rng(0)
    data = nn.data.TensorDataset(ad.tensor(rng.standard_normal((40, 4))), ad.tensor(rng.integers(0, 3, 40)))
    loader = nn.data.DataLoader(data, 8, shuffle=True, generator=GEN(4 + shift))
    return model, opt, sched, loader, {"data": loader.generator, "dropout": model[2].generator}


def train(model, opt, sched, loader, epochs, initial_epoch=0):
    loss = nn.CrossEntropyLoss()
    return nn.fit(
        model, loss, opt, loader, epochs, scheduler=sched, progress=False, initial_epoch=initial_epoch
    )


RESUME = """
import sys
sys.path.insert(0, {tests!r})
import nn
from test_nn_checkpoint import build, train
model, opt, sched, loader, generators = build(shift=100)
nn.load_checkpoint({path!r}, model, opt, sched, generators)
history = train(model, opt, sched, loader, 10, initial_epoch=5)
nn.save_checkpoint({out!r}, model, opt, sched, generators, losses=history["loss"])
"""


def test_resume_in_a_fresh_process_is_bit_identical(tmp_path):
    model, opt, sched, loader, generators = build()
    straight = train(model, opt, sched, loader, 10)
    nn.save_checkpoint(tmp_path / "straight.npz", model, opt, sched, generators, losses=straight["loss"][5:])

    model, opt, sched, loader, generators = build()
    train(model, opt, sched, loader, 5)
    nn.save_checkpoint(tmp_path / "half.npz", model, opt, sched, generators)
    script = RESUME.format(
        tests=str(ROOT / "tests"), path=str(tmp_path / "half.npz"), out=str(tmp_path / "resumed.npz")
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path, timeout=120)

    want, got = read(tmp_path / "straight.npz"), read(tmp_path / "resumed.npz")
    assert want.keys() == got.keys() and any(k.startswith("optimizer/") for k in want)
    for key in want:  # model, optimiser state, and the JSON of scheduler, generators and losses
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        assert got[key].dtype == want[key].dtype


def test_checkpoint_errors(tmp_path):
    model, opt, sched, loader, generators = build()
    nn.save(model, tmp_path / "model.npz")
    with pytest.raises(nn.CheckpointError, match="model file, not a training checkpoint"):
        nn.load_checkpoint(tmp_path / "model.npz", model)
    nn.save_checkpoint(tmp_path / "c.npz", model)
    with pytest.raises(nn.CheckpointError, match="holds no state for \\['data', 'dropout', 'optimizer'"):
        nn.load_checkpoint(tmp_path / "c.npz", model, opt, generators=generators)
    with pytest.raises(nn.CheckpointError, match="missing keys"):
        nn.load_checkpoint(tmp_path / "c.npz", nn.Linear(4, 3))


def test_train_resume_continues_exactly(tmp_path):
    common = [
        "train",
        "--data",
        "moons",
        "--arch",
        "2,8,2",
        "--no-progress",
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
    ]
    assert train_main([*common, "--epochs", "4", "--out", str(tmp_path / "straight")]) == 0
    assert train_main([*common, "--epochs", "2", "--out", str(tmp_path / "resumed")]) == 0
    assert train_main(["train", "--resume", str(tmp_path / "resumed"), "--epochs", "4", "--no-progress"]) == 0
    want, got = read(tmp_path / "straight" / "model.npz"), read(tmp_path / "resumed" / "model.npz")
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    histories = [
        json.loads((tmp_path / run / "metrics.json").read_text())["history"]
        for run in ("straight", "resumed")
    ]
    assert histories[1]["epoch"] == [1, 2, 3, 4]
    assert histories[0]["loss"] == histories[1]["loss"]


PUBLISHED = {"logistic": 410, "mlp": 15210, "cnn": 5210, "gru": 5134}  # the reference models' sizes


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_mnist1d_defaults_run(model):
    """``autodiff train --data mnist1d --model M`` builds the reference model with the reference
    optimiser settings (one short epoch here; the full runs are in the README)."""
    pytest.importorskip("mnist1d")
    metrics = experiments.train_classifier(data="mnist1d", model=model, epochs=1, progress=False)
    config = metrics["config"]
    assert (config["optimizer"], config["lr"], config["batch_size"]) == ("adam", 0.01, 100)
    assert config["standardize"] is False and "input_mean" not in metrics  # raw, as the reference
    assert metrics["parameters"] == PUBLISHED[model]
    assert metrics["train_examples"] == 4000 and metrics["test_examples"] == 1000
    assert metrics["test_accuracy"] > 0.15
    assert experiments.defaults("mnist1d", model)["epochs"] == 150


def test_history_plot_leaves_the_backend_alone():
    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    previous = matplotlib.get_backend()
    matplotlib.use("svg")  # any backend but the Agg that the old plotting code forced
    try:
        model, opt, sched, loader, _ = build()
        fig = train(model, opt, sched, loader, 2).plot("two epochs")
        assert isinstance(fig, Figure) and len(fig.axes) == 2 and len(fig.axes[0].lines) == 1
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(previous)
