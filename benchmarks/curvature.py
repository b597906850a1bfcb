"""Workload 6, curvature (issue 20): what researchers ask of the curvature of a network, against
BackPACK, hessian-eigenthings and PyHessian (each optional, in the bench extra).

The network is the 64-32-10 tanh MLP on the first 512 scikit-learn digits, cross-entropy,
float64, with the same weights in every framework (:func:`benchmarks.models.init_theta`).  Tasks:
the exact GGN and Hessian diagonals (BackPACK's ``DiagGGNExact``, ``DiagHessian``), per-example
gradient norms (``BatchL2Grad``), KFLR factors of the first layer (``KFLR``), one Hessian-vector
product with a fresh graph (PyTorch's double backward) and with the gradient's graph kept, and the
top-5 eigenvalues by Lanczos with full reorthogonalisation (hessian-eigenthings, given as many
steps as ours took to converge, so that both reach the same accuracy; PyHessian's power iteration
beside, at its own default tolerance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import autodiff as ad
from benchmarks import models, peers
from benchmarks.harness import Case, cases, host

NAME = "curvature"
SIZES = (64, 32, 10)
N_POINTS = 512


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data[:N_POINTS] / 16.0
    y = digits.target[:N_POINTS].astype(np.int64)
    return models.init_theta(SIZES, np.random.default_rng(4)), x, y


def _ours() -> tuple[Any, Any, Any, Any]:
    """(model, X, Y, space) with the workload's weights."""
    import landscape
    import nn

    theta, x, y = _data()
    model = nn.MLP(SIZES, activation="tanh")
    space = landscape.ParamSpace(model)
    space.assign(ad.tensor(theta))
    return model, ad.tensor(x, device=peers.device()), ad.tensor(y, device=peers.device()), space


def _torch() -> tuple[Any, Any, Any]:
    """(model, X, Y) in torch, float64, the same weights."""
    torch = peers.torch()
    theta, x, y = _data()
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*layers).double().to(peers.torch_device())
    state = {k: torch.from_numpy(v) for k, v in models.state_dict(theta, SIZES).items()}
    model.load_state_dict(state)
    return model, torch.from_numpy(x).to(peers.torch_device()), torch.from_numpy(y).to(peers.torch_device())


def _flat(tensors: list[Any]) -> np.ndarray:
    return np.concatenate([host(t).ravel() for t in tensors])


def _ours_layerwise(routine: str) -> Callable[[], Any]:
    import landscape
    import nn

    model, X, Y, _ = _ours()
    fn = getattr(landscape, routine)
    if routine == "per_sample_grad_norms":
        return lambda: fn(model, nn.functional.cross_entropy, X, Y)
    return lambda: fn(model, nn.functional.cross_entropy, (X, Y))


def _backpack(extension: str, attribute: str) -> Callable[[], Any]:
    torch, backpack = peers.torch(), peers.torch_tool("backpack")
    from backpack import extensions

    model, X, Y = _torch()
    model = backpack.extend(model)
    lossfunc = backpack.extend(torch.nn.CrossEntropyLoss())

    def call() -> Any:
        model.zero_grad()
        loss = lossfunc(model(X), Y)
        with backpack.backpack(getattr(extensions, extension)()):
            loss.backward()
        values = [getattr(p, attribute) for p in model.parameters()]
        if attribute == "batch_l2":
            return torch.sqrt(sum(values))
        return values

    return call


def _ours_kflr() -> Callable[[], Any]:
    import landscape
    import nn

    model, X, Y, _ = _ours()
    return lambda: landscape.kfac(model, nn.functional.cross_entropy, (X, Y), params="0.weight")


def _backpack_kflr() -> Callable[[], Any]:
    call = _backpack("KFLR", "kflr")
    return lambda: call()[0]


def _kron(out: Any) -> dict[str, Any]:
    """The first layer's KFLR block ``B (x) A`` (the factors' scales are conventions)."""
    b, a = (out.blocks[0].B, out.blocks[0].A) if hasattr(out, "blocks") else out
    return {"kflr": np.kron(host(b), host(a))}


def _ours_f() -> tuple[Any, Any]:
    import nn

    model, X, Y, space = _ours()
    return space.loss(nn.functional.cross_entropy, X, Y), space.theta()


def _vector(p: int) -> np.ndarray:
    return np.random.default_rng(7).standard_normal(p)


def _ours_hvp(kept: bool) -> Callable[[], Any]:
    import landscape
    from landscape.curvature import Linearisation

    f, theta = _ours_f()
    v = ad.tensor(_vector(theta.shape[0]))
    if kept:
        product = Linearisation(f, theta)
        return lambda: product(v)
    return lambda: landscape.hvp(f, theta, v)


def _torch_hvp(kept: bool) -> Callable[[], Any]:
    torch = peers.torch()
    model, X, Y = _torch()
    params = list(model.parameters())
    flat = torch.from_numpy(_vector(sum(p.numel() for p in params))).to(peers.torch_device())
    vs = [t.view_as(p) for t, p in zip(flat.split([p.numel() for p in params]), params, strict=True)]

    def grads() -> Any:
        loss = torch.nn.functional.cross_entropy(model(X), Y)
        return torch.autograd.grad(loss, params, create_graph=True)

    if kept:
        g = grads()
        return lambda: torch.cat(
            [h.reshape(-1) for h in torch.autograd.grad(g, params, vs, retain_graph=True)]
        )
    return lambda: torch.cat([h.reshape(-1) for h in torch.autograd.grad(grads(), params, vs)])


def _ours_eigs() -> Callable[[], Any]:
    import landscape

    f, theta = _ours_f()
    return lambda: landscape.hessian_eigs(f, theta, k=5)


def _steps_ours() -> int:
    """The Krylov dimension at which ours converged (eigenthings gets as many)."""
    return _ours_eigs()().n_matvec


def _eigenthings() -> Callable[[], Any]:
    torch, eig = peers.torch(), peers.torch_tool("hessian_eigenthings")
    model, X, Y = _torch()
    op = eig.HessianOperator(model, [(X, Y)], eig.supervised_loss(torch.nn.functional.cross_entropy))
    steps = _steps_ours()
    return lambda: eig.lanczos(op, k=5, max_iter=steps, which="LA", reorthogonalize=True, seed=0)


def _pyhessian() -> Callable[[], Any]:
    torch, pyh = peers.torch(), peers.torch_tool("pyhessian")
    model, X, Y = _torch()

    def call() -> Any:
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # its probe vectors follow the default dtype
        try:
            h = pyh.hessian(model, torch.nn.CrossEntropyLoss(), data=(X, Y), cuda=False)
            return h.eigenvalues(top_n=5)[0]
        finally:
            torch.set_default_dtype(previous)

    return call


def _top5(out: Any) -> dict[str, Any]:
    if hasattr(out, "values") and hasattr(out, "n_matvec"):  # ours, ascending
        values = host(out.values)
    elif hasattr(out, "eigenvalues"):
        values = host(out.eigenvalues)
    else:
        values = np.asarray(out, dtype=np.float64)
    return {"top5": np.sort(values)}


def cases_list() -> list[Case]:
    out: list[Case] = []
    diag = lambda out: {"diag": _flat(out) if isinstance(out, list) else host(out)}  # noqa: E731
    for task, routine, extension, attribute in (
        ("ggn_diag", "ggn_diag", "DiagGGNExact", "diag_ggn_exact"),
        ("hessian_diag", "hessian_diag", "DiagHessian", "diag_h"),
        ("grad norms", "per_sample_grad_norms", "BatchL2Grad", "batch_l2"),
    ):
        out += cases(
            NAME,
            task,
            {
                "ours": lambda r=routine: _ours_layerwise(r),
                "backpack": lambda e=extension, a=attribute: _backpack(e, a),
            },
            fetch=diag,
            tol=1e-9,
        )
    out += cases(
        NAME, "kflr (layer 1)", {"ours": _ours_kflr, "backpack": _backpack_kflr}, fetch=_kron, tol=1e-9
    )
    for kept, task, note in (
        (False, "hvp (fresh graph)", "landscape.hvp: reverse over reverse"),
        (True, "hvp (graph kept)", "Linearisation, as Lanczos uses it"),
    ):
        builds = {"ours": lambda k=kept: _ours_hvp(k), "torch": lambda k=kept: _torch_hvp(k)}
        out += cases(NAME, task, builds, notes={"ours": note}, tol=1e-9)
    out += cases(
        NAME,
        "top-5 eigenvalues",
        {"ours": _ours_eigs, "eigenthings": _eigenthings, "pyhessian": _pyhessian},
        fetch=_top5,
        notes={
            "eigenthings": "Lanczos, full reorthogonalisation, as many steps as ours",
            "pyhessian": "power iteration with deflation, its default tol 1e-3",
        },
        tol=1e-6,
        warmup=1,
    )
    return out
