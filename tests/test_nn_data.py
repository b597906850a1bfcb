"""Data: the loader (batches, seeded shuffling, drop_last), splits, standardisation, synthetic
sets, IDX files (written by the test), and scikit-learn's digits."""

import gzip
import struct
import sys

import numpy as np
import pytest

import autodiff as ad
import nn
from nn.data import DataLoader, TensorDataset


def dataset(n=10):
    return TensorDataset(ad.arange(float(n)).reshape(n, 1), ad.arange(n))


def test_batches_cover_the_data_in_order():
    batches = list(DataLoader(dataset(), batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert np.concatenate([y.numpy() for _, y in batches]).tolist() == list(range(10))
    assert len(DataLoader(dataset(), batch_size=4)) == 3
    assert len(DataLoader(dataset(), batch_size=4, drop_last=True)) == 2
    assert [len(y) for _, y in DataLoader(dataset(), batch_size=4, drop_last=True)] == [4, 4]


def test_seeded_shuffling():
    def epochs(seed):
        loader = DataLoader(dataset(), batch_size=3, shuffle=True, seed=seed)
        return [np.concatenate([y.numpy() for _, y in loader]).tolist() for _ in range(2)]

    first, second = epochs(0)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert first != second  # a new permutation each epoch
    assert epochs(0) == [first, second]  # the same seed gives the same batches
    assert epochs(1) != [first, second]
    for x, y in DataLoader(dataset(), batch_size=3, shuffle=True, seed=0):
        np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())  # inputs and targets stay paired


def test_dataset_errors():
    with pytest.raises(ValueError, match="same length along axis 0"):
        TensorDataset(ad.ones(3, 2), ad.ones(4))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(dataset(), batch_size=0)


def test_stratified_split_and_standardize():
    data = TensorDataset(ad.randn(40, 3, seed=0) * 5 + 2, ad.tensor(np.arange(40) % 4))
    train, test = nn.data.split(data, 0.3, seed=0, stratify=True)  # 3 of the 10 of each class
    assert len(train) == 28 and len(test) == 12
    assert np.bincount(test.tensors[1].numpy()).tolist() == [3, 3, 3, 3]
    standardized, other = nn.data.standardize(train, test)
    x = standardized.tensors[0].numpy()
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(0), 1, rtol=1e-12)
    mean, scale = train.tensors[0].numpy().mean(0), train.tensors[0].numpy().std(0)
    np.testing.assert_allclose(other.tensors[0].numpy(), (test.tensors[0].numpy() - mean) / scale, rtol=1e-12)


def test_synthetic_sets():
    moons = nn.data.two_moons(200, noise=0.0, seed=0)
    x, y = moons.tensors[0].numpy(), moons.tensors[1].numpy()
    upper = x[y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)  # exactly on the circle
    mixture = nn.data.gaussian_mixture(300, centers=[[0, 0], [10, 10]], std=0.1, seed=1)
    xm, ym = mixture.tensors[0].numpy(), mixture.tensors[1].numpy()
    np.testing.assert_allclose(xm[ym == 1].mean(0), [10, 10], atol=0.05)
    spirals = nn.data.spirals(90, arms=3, seed=0)
    assert spirals.tensors[0].shape == (90, 2) and set(spirals.tensors[1].numpy()) == {0, 1, 2}
    assert (
        nn.data.two_moons(50, seed=3).tensors[0].numpy().tolist()
        == nn.data.two_moons(50, seed=3).tensors[0].numpy().tolist()
    )


def test_teacher_student():
    data = nn.data.teacher_student([3, 5, 2], 20, seed=0)
    teacher = data.meta["teacher"]
    x, y = data.tensors
    np.testing.assert_allclose(teacher(x).numpy(), y.numpy(), rtol=1e-12)
    noisy = nn.data.teacher_student(teacher, 20, noise=0.1, seed=1)
    residual = noisy.tensors[1].numpy() - teacher(noisy.tensors[0]).numpy()
    assert 0.03 < residual.std() < 0.3


def test_linear_regression_has_the_chosen_singular_values():
    s = [3.0, 2.0, 0.5]
    data = nn.data.linear_regression(50, s, input_dim=4, output_dim=3, seed=0)
    x, y = (t.numpy() for t in data.tensors)
    n = len(x)
    np.testing.assert_allclose(x.T @ x / n, np.eye(4), atol=1e-12)  # whitened inputs
    sigma_yx = y.T @ x / n
    np.testing.assert_allclose(np.linalg.svd(sigma_yx, compute_uv=False)[:3], s, rtol=1e-12)
    with pytest.raises(ValueError, match="linear_regression"):
        nn.data.linear_regression(2, s)


def write_idx(path, array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)


@pytest.mark.cpu_only
def test_mnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 6).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, 0x08)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, 0x08)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:2], 0x08)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:2], 0x08)
    train, test = nn.data.mnist(tmp_path, limit=5)
    assert train.tensors[0].shape == (5, 784) and test.tensors[0].shape == (2, 784)
    np.testing.assert_allclose(train.tensors[0].numpy(), images[:5].reshape(5, -1) / 255.0)
    assert train.tensors[1].numpy().tolist() == labels[:5].tolist() and train.tensors[1].dtype == np.int64
    image_train, _ = nn.data.fashion_mnist(tmp_path, flatten=False)
    assert image_train.tensors[0].shape == (6, 1, 28, 28)
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "floats.idx", floats, 0x0D)
    np.testing.assert_array_equal(nn.data.read_idx(tmp_path / "floats.idx"), floats)


@pytest.mark.cpu_only
def test_malformed_idx_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="not an IDX file"):
        nn.data.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((4, 2), np.uint8), 0x08)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match="has 17 bytes but its header \\(4, 2\\) uint8 implies 20"):
        nn.data.read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        nn.data.mnist(tmp_path)


def test_digits():
    pytest.importorskip("sklearn")
    train, test = nn.data.digits()
    assert (len(train), len(test)) == (1438, 359)
    assert (
        train.tensors[0].shape == (1438, 64)
        and 0 <= train.tensors[0].numpy().min() <= train.tensors[0].numpy().max() <= 1
    )
    counts = np.bincount(test.tensors[1].numpy())
    assert counts.min() >= 35 and counts.max() <= 37  # 20% of each class
    images, _ = nn.data.digits(flatten=False)
    assert images.tensors[0].shape == (1438, 1, 8, 8)


@pytest.mark.cpu_only
def test_digits28_is_mnist_shaped_and_centred():
    """784 features in [0, 1], labels and split of digits(), centre of mass at (14, 14), a
    border of zeros, and inputs spanning far more than the 64 dimensions of the 8x8 source."""
    pytest.importorskip("sklearn")
    train, test = nn.data.digits28()
    _, test8 = nn.data.digits()
    x = train.tensors[0].numpy()
    assert x.shape == (1438, 784) and len(test) == 359 and 0 <= x.min() <= x.max() <= 1
    assert np.array_equal(test.tensors[1].numpy(), test8.tensors[1].numpy())
    images = x.reshape(-1, 28, 28)
    mass = images.sum(axis=(1, 2))
    centre = (images.sum(axis=2) * (np.arange(28) + 0.5)).sum(axis=1) / mass
    assert np.allclose(centre, 14.0, atol=0.2)
    assert (x.max(axis=0) == 0).sum() > 100  # pixels never inked (MNIST: 67)
    assert np.linalg.matrix_rank(x[:400]) > 300


def test_mnist1d_needs_its_package(monkeypatch):
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "mnist1d", None)  # as if it were not installed
        m.setitem(sys.modules, "mnist1d.data", None)
        with pytest.raises(ImportError, match="pip install mnist1d"):
            nn.data.mnist1d()


def test_mnist1d_is_generated_locally():
    pytest.importorskip("mnist1d")
    train, test = nn.data.mnist1d()  # the package's standard data set: 4000 / 1000 signals
    assert train.tensors[0].shape == (4000, 40) and len(test) == 1000
    np.testing.assert_array_equal(train.tensors[0].numpy(), nn.data.mnist1d(seed=42)[0].tensors[0].numpy())
    assert sorted(set(train.tensors[1].numpy().tolist())) == list(range(10))
