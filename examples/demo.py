"""The main demo: from the lecture's computation graph to the landscape of trained networks.

    pip install -e ".[data]" && python examples/demo.py

1. The lecture's program: its value, its gradient by backpropagation, a Hessian, a third
   derivative (``../shared/seeds/001_9074c1202f56cd83.txt``).
2. Training an MLP on the 8x8 digits with ``nn``.
3. The trained network's landscape: extreme Hessian eigenvalues (Lanczos) and the functional
   dimension of a ReLU network against the bound p - (hidden neurons) (``000_*.txt``).
4. A deep linear network: a strict and a non-strict saddle, as the theorem says and as the
   Hessian sees them (``000_*.txt``, ``002_*.txt``).
"""

import math

import numpy as np

import autodiff as ad
import landscape
import nn


def lecture_program(x, y):
    """The example program of ../shared/seeds/001_9074c1202f56cd83.txt."""
    z1 = x * y
    z2 = x**2
    z3 = ad.exp(z1)
    z4 = 2 * z2
    z5 = z3 + z4
    return ad.sin(z5)


def part_1_backpropagation() -> None:
    print("1. The lecture's program  z1=x*y, z2=x**2, z3=exp(z1), z4=2*z2, z5=z3+z4, out=sin(z5)")
    x = ad.tensor(1.5, requires_grad=True)
    y = ad.tensor(0.5, requires_grad=True)
    out = lecture_program(x, y)
    out.backward()
    z5 = math.exp(0.75) + 4.5
    by_hand_x, by_hand_y = math.cos(z5) * (0.5 * math.exp(0.75) + 6), math.cos(z5) * 1.5 * math.exp(0.75)
    print(f"   at x=1.5, y=0.5: out = {out.item():.12f}")
    print(f"   d out/dx = {x.grad.item():.12f}   d out/dy = {y.grad.item():.12f}   (backpropagation)")
    print(f"   by hand:   {by_hand_x:.12f}              {by_hand_y:.12f}")
    H = ad.hessian(lambda v: lecture_program(v[0], v[1]))(ad.tensor([1.5, 0.5]))
    print(f"   Hessian (forward-over-reverse): {H.numpy().round(6).tolist()}")
    d3 = ad.grad(ad.grad(ad.grad(lambda t: ad.sin(t) * ad.exp(t))))(ad.tensor(0.3))
    exact = 2 * math.exp(0.3) * (math.cos(0.3) - math.sin(0.3))
    print(f"   d^3/dt^3 sin(t) e^t at 0.3 = {d3.item():.12f}  (closed form {exact:.12f})")


def part_2_training() -> tuple[nn.Module, ad.Tensor, ad.Tensor]:
    print("\n2. An MLP 64-64-10 on the 8x8 digits (nn), 10 epochs of SGD")
    train, test = nn.data.digits(dtype="float64")
    model = nn.MLP([64, 64, 10], activation="tanh")
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = nn.data.DataLoader(train, 32, shuffle=True, generator=ad.random.Generator(0))
    history = nn.fit(model, nn.functional.cross_entropy, opt, loader, 10, progress=False)
    accuracy = nn.evaluate(model, nn.functional.cross_entropy, nn.data.DataLoader(test, 512))["accuracy"]
    print(f"   final training loss {history['loss'][-1]:.4f}, test accuracy {100 * accuracy:.1f}%")
    X, Y = train.tensors
    return model, X[:256], Y[:256]


def part_3_landscape(model: nn.Module, X: ad.Tensor, Y: ad.Tensor) -> None:
    print("\n3. The landscape at the trained weights")
    space = landscape.ParamSpace(model)
    f = space.loss(nn.functional.cross_entropy, X, Y)
    top = landscape.hessian_eigs(f, space.theta(), k=3, which="largest")
    bottom = landscape.hessian_eigs(f, space.theta(), k=3, which="smallest")
    largest, smallest = np.round(top.values.numpy(), 3).tolist(), np.round(bottom.values.numpy(), 5).tolist()
    print(f"   p = {space.p}; Hessian eigenvalues by Lanczos: largest {largest}, smallest {smallest}")
    matvecs = top.n_matvec + bottom.n_matvec
    print(f"   ({matvecs} Hessian-vector products, Ritz residuals below {top.tol:.0e} x scale)")
    relu_net = nn.MLP([3, 6, 2], activation="relu")
    inputs = ad.randn(200, 3, seed=1)
    fd = landscape.functional_dimension(relu_net, inputs)
    bound = landscape.relu.rank_upper_bound(relu_net)
    print(
        f"   3-6-2 ReLU network on 200 points: functional dimension {fd.rank} of p = {space_size(relu_net)}"
    )
    print(f"   (bound from positive rescaling: p - hidden neurons = {bound}; gap at the cut {fd.gap:.2e})")


def space_size(model: nn.Module) -> int:
    return landscape.ParamSpace(model).p


def part_4_deep_linear() -> None:
    print("\n4. A deep linear network [4, 3, 3, 3]: saddles of the same value, different kinds")
    problem = landscape.linear.random_problem([4, 3, 3, 3], delta=[3.0, 2.0, 1.0], rng=0)
    for tight in (False, True):
        W = problem.critical_point([1], tight=tight, rng=1)
        theory = problem.theory_kind(W)
        report = landscape.classify(problem.loss, ad.tensor(problem.flatten(W)))
        print(
            f"   S={{1}}, {'tight' if tight else 'non-tight'}: loss {problem.risk(W):.4f} "
            f"(predicted {problem.critical_value([1]):.4f}); theory: {theory.kind}; "
            f"Hessian: {report.kind}, inertia {report.inertia}"
        )


if __name__ == "__main__":
    part_1_backpropagation()
    part_3_landscape(*part_2_training())
    part_4_deep_linear()
