"""landscape against torch.func in float64: dense Hessians, Hessian-vector products and parameter
Jacobians of the same network agree to 1e-9 (skipped when torch is not installed)."""

import numpy as np
import pytest

import autodiff as ad
import landscape as L
import nn

torch = pytest.importorskip("torch")
func = pytest.importorskip("torch.func")

pytestmark = pytest.mark.cpu_only


@pytest.fixture
def twins():
    """The same MLP in nn and in torch, data, and torch's flat-parameter forward."""
    model = nn.MLP([4, 6, 5, 3], activation="tanh", generator=ad.random.Generator(0))
    space = L.ParamSpace(model)
    layers = [
        torch.nn.Linear(4, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 5),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 3),
    ]
    reference = torch.nn.Sequential(*layers).double()
    names = [n for n, _ in reference.named_parameters()]
    assert names == space.names
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((9, 4)), rng.standard_normal((9, 3))

    def torch_forward(flat, x):
        params = {n: flat[space.slice(n)].reshape(s) for n, s in zip(space.names, space.shapes, strict=True)}
        return func.functional_call(reference, params, (x,))

    return space, ad.tensor(X), ad.tensor(Y), torch.tensor(X), torch.tensor(Y), torch_forward


def close(ours, theirs):
    theirs = theirs.detach().numpy()
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-9, atol=1e-9 * np.abs(theirs).max())


def test_hessian_and_hvp_agree_with_torch_func(twins):
    space, X, Y, Xt, Yt, torch_forward = twins
    theta = space.theta()
    f = space.loss(lambda out, y: ((out - y) ** 2).mean(), X, Y)

    def torch_loss(flat):
        return ((torch_forward(flat, Xt) - Yt) ** 2).mean()

    flat = torch.tensor(theta.numpy())
    close(L.hessian(f, theta), func.hessian(torch_loss)(flat))
    v = np.random.default_rng(2).standard_normal(space.p)
    _, hv = func.jvp(func.grad(torch_loss), (flat,), (torch.tensor(v),))
    close(L.hvp(f, theta, ad.tensor(v)), hv)


def test_param_jacobian_agrees_with_vmap_jacrev(twins):
    space, X, _, Xt, _, torch_forward = twins
    flat = torch.tensor(space.theta().numpy())
    per_sample = func.vmap(func.jacrev(lambda t, x: torch_forward(t, x[None])[0]), in_dims=(None, 0))(
        flat, Xt
    )
    close(L.param_jacobian(space.model, X), per_sample.reshape(-1, space.p))
