"""landscape.sweep: serial, local processes and a real dask.distributed.LocalCluster give the
same results; a job that raises is retried, one that keeps failing is reported without losing
the others, and a worker killed mid-sweep loses nothing."""

import os
import time

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn


def seeded_loss(point):
    """A deterministic job: the loss of a small MLP initialised with the point's seed."""
    seed, width = point
    generator = ad.random.Generator(seed)
    model = nn.MLP([3, width, 1], activation="tanh", generator=generator, dtype="float64")
    X = ad.random.Generator(100).randn(16, 3, dtype="float64", device="cpu")
    loss = nn.functional.mse_loss(model(X), ad.sin(X[:, :1]))
    return {"loss": loss.item(), "output": model(X).numpy()}


class DiesOnce:
    """Kills the process running it (os._exit) the first time it sees ``victim``; a marker file
    records that it happened, so the retry on a fresh worker succeeds."""

    def __init__(self, marker, victim, delay=0.0):
        self.marker, self.victim, self.delay = marker, victim, delay

    def __call__(self, point):
        time.sleep(self.delay)
        if point == self.victim and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return seeded_loss((point, 4))


class FailsUntil:
    """Raises on every call for ``always``, and the first call for ``once``."""

    def __init__(self, marker, once, always):
        self.marker, self.once, self.always = marker, once, always

    def __call__(self, point):
        if point == self.always:
            raise ValueError(f"job {point} always fails")
        if point == self.once and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            raise RuntimeError("transient failure")
        return point * 10


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x["loss"] == y["loss"]
        np.testing.assert_array_equal(x["output"], y["output"])


POINTS = [(seed, width) for seed in range(3) for width in (2, 5)]


@pytest.mark.cpu_only
def test_processes_match_serial_and_keep_order():
    serial = L.sweep(seeded_loss, POINTS, workers=0, progress=False)
    parallel = L.sweep(seeded_loss, POINTS, workers=2, progress=False)
    assert (serial.backend, parallel.backend) == ("serial", "processes")
    same(serial.values(), parallel.values())
    closure = L.sweep(lambda p: p[0] * 100 + p[1], POINTS, workers=2, progress=False)  # forked, not pickled
    assert closure.values() == [s * 100 + w for s, w in POINTS]


@pytest.mark.cpu_only
@pytest.mark.parametrize("workers", [0, 2])
def test_failures_are_retried_and_reported(tmp_path, workers):
    job = FailsUntil(str(tmp_path / "once"), once=2, always=4)
    result = L.sweep(job, range(6), workers=workers, retries=1, progress=False)
    assert result.results == [0, 10, 20, 30, None, 50]
    assert list(result.errors) == [4] and "always fails" in result.errors[4]
    with pytest.raises(L.SweepError, match="1 of 6 jobs failed: job 4: ValueError"):
        result.values()
    assert L.sweep(
        FailsUntil(str(tmp_path / "x"), 1, None), range(3), workers=workers, retries=0, progress=False
    ).errors.keys() == {1}


@pytest.mark.cpu_only
def test_dead_local_worker_loses_nothing(tmp_path):
    result = L.sweep(DiesOnce(str(tmp_path / "died"), victim=3), range(8), workers=2, progress=False)
    assert (tmp_path / "died").exists() and not result.errors
    same(result.values(), [seeded_loss((p, 4)) for p in range(8)])


@pytest.mark.cpu_only
def test_dask_local_cluster_matches_serial_and_survives_a_killed_worker(tmp_path):
    distributed = pytest.importorskip("distributed")
    serial = L.sweep(seeded_loss, POINTS, workers=0, progress=False).values()
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    try:
        with distributed.Client(cluster) as client:
            on_dask = L.sweep(seeded_loss, POINTS, client=client, progress=False)
            assert on_dask.backend == "dask"
            same(serial, on_dask.values())
            # a job kills its worker mid-sweep (the nanny restarts it); its job is rescheduled
            job = DiesOnce(str(tmp_path / "died"), victim=2, delay=0.05)
            survived = L.sweep(job, range(8), client=client, progress=False)
            assert (tmp_path / "died").exists() and not survived.errors
            same(survived.values(), [seeded_loss((p, 4)) for p in range(8)])
            flaky = L.sweep(
                FailsUntil(str(tmp_path / "once"), 1, 3), range(5), client=client, retries=1, progress=False
            )
            assert flaky.results == [0, 10, 20, None, 40] and list(flaky.errors) == [3]
        address_result = None
        with distributed.Client(cluster) as probe:  # a scheduler address works as well
            address_result = L.sweep(seeded_loss, POINTS[:2], client=probe.scheduler.address, progress=False)
        same(serial[:2], address_result.values())
    finally:
        cluster.close()
