"""Every test runs on the CPU (NumPy) and on the strict device, which refuses any implicit
host round-trip: a test that passes on both proves the code never touches device data with
NumPy.  Tests marked ``cpu_only`` (host data by design) run once.  AUTODIFF_TEST_DEVICES=cpu
runs everything on the CPU alone."""

import os

import pytest

import autodiff as ad

DEVICES = os.environ.get("AUTODIFF_TEST_DEVICES", "cpu,strict").split(",")


def pytest_addoption(parser):
    parser.addoption(
        "--long", action="store_true", help="tests/test_fuzz.py: thousands of random programs per device"
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: runs on the CPU device only")


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        cpu_only = metafunc.definition.get_closest_marker("cpu_only")
        metafunc.parametrize("device", ["cpu"] if cpu_only else DEVICES, indirect=True)


@pytest.fixture(autouse=True)
def device(request):
    """Make the parametrised device the default one for the test."""
    name = getattr(request, "param", "cpu")
    previous_device, previous_dtype = ad.get_default_device(), ad.get_default_dtype()
    ad.set_default_device(name)
    yield name
    ad.set_default_device(previous_device)
    ad.set_default_dtype(previous_dtype)
