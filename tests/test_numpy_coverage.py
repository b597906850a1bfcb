"""Coverage of HIPS autograd's differentiable NumPy (issue 19): the functions that autograd
(version 1.9.1) gives a VJP in ``autograd/numpy/numpy_vjps.py`` and ``autograd/numpy/linalg.py``,
against ``autodiff.numpy``.  The lists are written here (so that the check runs without autograd)
and compared with autograd's source when autograd is installed; the README's coverage table
names every one of them."""

import ast
import importlib
import pathlib

import pytest

import autodiff.numpy as anp
from autodiff.tensor import Tensor

# numpy_vjps.py, by NumPy's names: autograd's private primitives under the NumPy function they
# implement (``_primitive_mean`` is ``mean``, ``array_from_args`` is ``array`` of a list, ...).
HIPS_NUMPY = sorted(
    """abs absolute add amax amin angle arccos arccosh arcsin arcsinh arctan arctan2 arctanh array
    array_split astype atleast_1d atleast_2d atleast_3d broadcast_to clip concatenate conj conjugate
    cos cosh cross cumsum deg2rad degrees diag diagonal diff divide dot dsplit einsum exp exp2
    expand_dims expm1 fabs fliplr flipud fmax fmin full __getitem__ gradient hsplit hypot imag inner
    kron linspace log log10 log1p log2 logaddexp logaddexp2 matmul max maximum mean min minimum mod
    moveaxis msort multiply nan_to_num negative outer pad partition power prod rad2deg radians ravel
    real real_if_close reciprocal remainder repeat reshape roll rollaxis rot90 sin sinc sinh sort
    split sqrt square squeeze std subtract sum swapaxes tan tanh tensordot tile trace transpose tril
    triu true_divide var vsplit where""".split()
)
HIPS_LINALG = sorted("cholesky det eig eigh inv norm pinv slogdet solve svd".split())
# autograd's private names -> NumPy's; and its own helpers, which are no NumPy functions.
PRIVATE = {
    "_array_from_scalar_or_array": "array",
    "array_from_args": "array",
    "_astype": "astype",
    "_primitive_mean": "mean",
    "_primitive_std": "std",
    "_primitive_var": "var",
    "_primitive_norm": "norm",
    "concatenate_args": "concatenate",
    "func(ArrayBox.__getitem__)": "__getitem__",
}
HELPERS = {
    "dot_adjoint_0",
    "dot_adjoint_1",
    "tensordot_adjoint_0",
    "tensordot_adjoint_1",
    "untake",
    "make_diagonal",
}
# What autodiff.numpy does not differentiate, and why.
NOT_COVERED: dict[str, str] = {}


def provided(name: str) -> bool:
    if name == "__getitem__":
        return hasattr(Tensor, "__getitem__")
    return callable(getattr(anp, name, None))


@pytest.mark.cpu_only
def test_numpy_vjps_coverage_is_at_least_95_percent():
    covered = [n for n in HIPS_NUMPY if provided(n)]
    assert sorted(set(HIPS_NUMPY) - set(covered)) == sorted(NOT_COVERED)  # a drop, or a stale list
    assert len(covered) / len(HIPS_NUMPY) >= 0.95


@pytest.mark.cpu_only
def test_linalg_coverage_with_numpy_is_at_least_95_percent():
    if not (pathlib.Path(anp.__file__).parent / "linalg").is_dir():  # (not an installed copy elsewhere)
        pytest.skip("autodiff.linalg is not part of this checkout")
    linalg = importlib.import_module("autodiff.linalg")
    covered = [n for n in HIPS_NUMPY if provided(n)] + [n for n in HIPS_LINALG if hasattr(linalg, n)]
    assert len(covered) / (len(HIPS_NUMPY) + len(HIPS_LINALG)) >= 0.95


@pytest.mark.cpu_only
def test_lists_are_autograds():
    autograd = pytest.importorskip("autograd")
    folder = pathlib.Path(autograd.__file__).parent / "numpy"
    for filename, listed in (("numpy_vjps.py", HIPS_NUMPY), ("linalg.py", HIPS_LINALG)):
        names = set()
        for node in ast.walk(ast.parse((folder / filename).read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("defvjp", "defvjp_argnum"):
                name = ast.unparse(node.args[0]).removeprefix("anp.")
                names.add(PRIVATE.get(name, name))
        assert sorted(names - HELPERS) == listed, f"autograd {autograd.__version__}: update the lists"


@pytest.mark.cpu_only
def test_readme_table_names_every_function():
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## NumPy coverage")[1].split("\n## ")[0]
    missing = [n for n in HIPS_NUMPY + HIPS_LINALG if f"`{n}`" not in section]
    assert not missing, f"README's coverage table lacks {missing}"
