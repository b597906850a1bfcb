"""Cross-checks against PyTorch (skipped when torch is not installed): gradients and Hessians
of randomly generated composite expressions agree to 1e-10 in float64."""

import numpy as np
import pytest

import autodiff as ad

torch = pytest.importorskip("torch")

# (name, autodiff function, torch function, needs positive input)
UNARY = [
    ("sin", ad.sin, torch.sin, False),
    ("cos", ad.cos, torch.cos, False),
    ("tanh", ad.tanh, torch.tanh, False),
    ("exp", lambda x: ad.exp(0.3 * x), lambda x: torch.exp(0.3 * x), False),
    ("sigmoid", ad.sigmoid, torch.sigmoid, False),
    ("softplus", ad.softplus, torch.nn.functional.softplus, False),
    ("log", lambda x: ad.log(x * x + 1), lambda x: torch.log(x * x + 1), False),
    ("sqrt", lambda x: ad.sqrt(x * x + 0.5), lambda x: torch.sqrt(x * x + 0.5), False),
    ("square", lambda x: x**2, lambda x: x**2, False),
    ("log_softmax", lambda x: ad.log_softmax(x, axis=-1), lambda x: torch.log_softmax(x, dim=-1), False),
    ("cumsum", lambda x: ad.cumsum(x, axis=-1), lambda x: torch.cumsum(x, dim=-1), False),
    ("flip", lambda x: ad.flip(x, 0), lambda x: torch.flip(x, (0,)), False),
]
BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    ("matmul", lambda a, b: a @ b.T, lambda a, b: a @ b.T),
    ("maxpair", lambda a, b: ad.maximum(a, b + 0.123), lambda a, b: torch.maximum(a, b + 0.123)),
]
REDUCE = [
    ("sum", lambda x: x.sum(), lambda x: x.sum()),
    ("mean_sq", lambda x: (x * x).mean(), lambda x: (x * x).mean()),
    ("logsumexp", lambda x: ad.logsumexp(x), lambda x: torch.logsumexp(x.reshape(-1), 0)),
    ("norm", lambda x: ad.norm(x), lambda x: torch.linalg.norm(x)),
    ("var", lambda x: ad.var(x, axis=0).sum(), lambda x: torch.var(x, dim=0, unbiased=False).sum()),
]


def random_program(seed):
    """A random composite expression of two (3, 3) inputs, as a pair of functions."""
    rng = np.random.default_rng(seed)
    steps = [(rng.integers(2), rng.integers(len(UNARY)), rng.integers(len(BINARY))) for _ in range(5)]
    last = rng.integers(len(REDUCE))

    def build(lib):
        k = 1 if lib == "ad" else 2

        def f(x, y):
            a, b = x, y
            for kind, u, bi in steps:
                if kind == 0:
                    a = UNARY[u][k](a)
                else:
                    a, b = BINARY[bi][k](a, b), a
            return REDUCE[last][k](a + b)

        return f

    return build("ad"), build("torch")


@pytest.mark.cpu_only
@pytest.mark.parametrize("seed", range(20))
def test_random_programs_match_torch(seed):
    f_ad, f_torch = random_program(seed)
    rng = np.random.default_rng(100 + seed)
    x, y = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (x, y))
    out_t = f_torch(tx, ty)
    out_t.backward()
    gx, gy = ad.grad(f_ad, argnums=(0, 1))(ad.tensor(x), ad.tensor(y))
    np.testing.assert_allclose(gx.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gy.numpy(), ty.grad.numpy(), rtol=1e-10, atol=1e-10)
    h_torch = torch.autograd.functional.hessian(lambda v: f_torch(v, torch.tensor(y)), torch.tensor(x))
    for mode in ("fwd-rev", "rev-rev"):
        h_ad = ad.hessian(lambda v: f_ad(v, ad.tensor(y)), mode=mode)(ad.tensor(x))
        np.testing.assert_allclose(h_ad.numpy(), h_torch.numpy(), rtol=1e-10, atol=1e-10)
