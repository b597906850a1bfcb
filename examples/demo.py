"""The main demo: the lecture's computation graph, its gradient by backpropagation, a Hessian.

Run:  python examples/demo.py
"""

import math

import autodiff as ad


def lecture_program(x, y):
    """The example program of ../shared/seeds/001_9074c1202f56cd83.txt."""
    z1 = x * y
    z2 = x**2
    z3 = ad.exp(z1)
    z4 = 2 * z2
    z5 = z3 + z4
    return ad.sin(z5)


def main() -> None:
    x = ad.tensor(1.5, requires_grad=True)
    y = ad.tensor(0.5, requires_grad=True)
    out = lecture_program(x, y)
    out.backward()
    print("The lecture's program  z1=x*y, z2=x**2, z3=exp(z1), z4=2*z2, z5=z3+z4, out=sin(z5)")
    print(f"  at x=1.5, y=0.5:  out = {out.item():.12f}")
    print(f"  d out/dx = {x.grad.item():.12f}   d out/dy = {y.grad.item():.12f}  (backpropagation)")
    z5 = math.exp(0.75) + 4.5
    by_hand_x, by_hand_y = math.cos(z5) * (0.5 * math.exp(0.75) + 6), math.cos(z5) * 1.5 * math.exp(0.75)
    print(f"  by hand:   {by_hand_x:.12f}              {by_hand_y:.12f}")

    def f(v):
        return lecture_program(v[0], v[1])

    H = ad.hessian(f)(ad.tensor([1.5, 0.5]))
    print("  Hessian (forward-over-reverse):")
    print("   ", H.numpy().round(6).tolist())
    d3 = ad.grad(ad.grad(ad.grad(lambda t: ad.sin(t) * ad.exp(t))))(ad.tensor(0.3))
    print(
        f"  d^3/dt^3 sin(t) e^t at 0.3 = {d3.item():.12f}  (closed form 2e^t(cos t - sin t) = "
        f"{2 * math.exp(0.3) * (math.cos(0.3) - math.sin(0.3)):.12f})"
    )


if __name__ == "__main__":
    main()
