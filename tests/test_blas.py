"""BLAS threads make way on a busy machine (autodiff.blas): the rule, the governor's decisions on
a simulated machine, the settings that turn it off, and the real OpenBLAS that NumPy loaded."""

import pytest

from autodiff import blas

pytestmark = pytest.mark.cpu_only


@pytest.mark.parametrize(
    "runnable, ours, cores, expected",
    [
        (1, 1, 2, 2),  # only us: every core
        (2, 1, 2, 1),  # one other task on 2 cores: one thread
        (3, 2, 2, 1),  # our own spinning BLAS thread is not another task
        (9, 1, 2, 1),  # a crowded machine: still one
        (5, 1, 16, 12),
        (0, 1, 4, 4),
    ],
)
def test_threads_for(runnable, ours, cores, expected):
    assert blas.threads_for(runnable, ours, cores) == expected


class FakeBlas:
    def __init__(self, threads):
        self.threads = threads
        self.sets = []

    def set(self, n):
        self.sets.append(n)
        self.threads = n

    def get(self):
        return self.threads


def governor(monkeypatch, setting="auto", **env):
    monkeypatch.setenv("AUTODIFF_BLAS_THREADS", setting)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fake = FakeBlas(2)
    monkeypatch.setattr(blas, "_openblas", lambda: (fake.set, fake.get))
    monkeypatch.setattr(blas, "CORES", 2)
    return blas.Governor(), fake


def test_governor_follows_the_load_at_most_every_refresh(monkeypatch):
    g, fake = governor(monkeypatch)
    clock = [100.0]
    monkeypatch.setattr(blas.time, "monotonic", lambda: clock[0])
    load = [(2, 1)]  # one neighbour
    monkeypatch.setattr(blas, "_runnable", lambda: load[0])
    g()
    assert fake.sets == [1]
    load[0] = (1, 1)  # the neighbour left, but the last look is recent
    clock[0] += blas.REFRESH / 2
    g()
    assert fake.sets == [1]
    clock[0] += blas.REFRESH
    g()
    assert fake.sets == [1, 2]
    clock[0] += blas.REFRESH
    g()  # unchanged: no call into the library
    assert fake.sets == [1, 2]


def test_settings_that_leave_blas_alone(monkeypatch):
    for setting, env in (
        ("off", {}),
        ("auto", {"OPENBLAS_NUM_THREADS": "2"}),
        ("auto", {"OMP_NUM_THREADS": "1"}),
    ):
        g, fake = governor(monkeypatch, setting, **env)
        monkeypatch.setattr(blas, "_runnable", lambda: (9, 1))
        g()
        assert fake.sets == [], (setting, env)


def test_a_fixed_number_is_set_once(monkeypatch):
    g, fake = governor(monkeypatch, "1")
    monkeypatch.setattr(blas, "_runnable", lambda: (1, 1))
    g()
    assert fake.sets == [1]


def test_without_proc_the_governor_stops(monkeypatch):
    g, fake = governor(monkeypatch)

    def missing():
        raise OSError("no /proc")

    monkeypatch.setattr(blas, "_runnable", missing)
    g()
    assert g.calls is None and fake.sets == []


def test_the_real_openblas_and_proc():
    calls = blas._openblas()
    if calls is None:
        pytest.skip("NumPy is not linked with OpenBLAS here")
    setter, getter = calls
    before = getter()
    try:
        setter(1)
        assert getter() == 1
    finally:
        setter(before)
    runnable, ours = blas._runnable()
    assert runnable >= 1 and ours >= 1  # this thread is running


@pytest.mark.parametrize("setting", ["abc", "0", "-2", "1.5"])
def test_a_setting_not_understood_warns_and_falls_back_to_auto(monkeypatch, setting):
    monkeypatch.setenv("AUTODIFF_BLAS_THREADS", setting)
    fake = FakeBlas(2)
    monkeypatch.setattr(blas, "_openblas", lambda: (fake.set, fake.get))
    with pytest.warns(RuntimeWarning, match="AUTODIFF_BLAS_THREADS=.* is not understood"):
        g = blas.Governor()
    assert g.fixed is None and fake.sets == []
