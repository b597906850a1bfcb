"""``nn.fit(..., compile=True)`` and ``nn.CompiledStep``: the compiled step gives the eager
step's numbers, so training follows the same trajectory."""

import numpy as np
import pytest

import autodiff as ad
import nn


def _train(compile, epochs=3):
    train, test = nn.data.digits()
    ad.manual_seed(0)
    model = nn.MLP([64, 32, 10])
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = nn.data.DataLoader(train, 100, shuffle=True, seed=0)  # 1438 = 14 x 100 + 38: two signatures
    history = nn.fit(model, nn.functional.cross_entropy, opt, loader, epochs, progress=False, compile=compile)
    X, y = test.tensors
    with ad.no_grad():
        accuracy = nn.functional.accuracy(model(X), y).item()
    return history, accuracy, model


@pytest.mark.cpu_only
def test_compiled_digits_training_matches_eager():
    pytest.importorskip("sklearn")
    eager, eager_accuracy, eager_model = _train(False)
    compiled, compiled_accuracy, compiled_model = _train(True)
    assert compiled_accuracy == eager_accuracy and eager_accuracy > 0.85
    assert [r["loss"] for r in compiled.records] == [r["loss"] for r in eager.records]
    for p, q in zip(eager_model.parameters(), compiled_model.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_compiled_step_sets_the_gradients():
    ad.manual_seed(1)
    model = nn.MLP([4, 8, 3])
    x, y = ad.randn(5, 4, seed=2), ad.tensor([0, 2, 1, 1, 0])
    step = nn.CompiledStep(model, nn.functional.cross_entropy)
    out, loss = step([x], y)
    compiled_grads = [p.grad.numpy().copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    eager_loss = nn.functional.cross_entropy(model(x), y)
    eager_loss.backward()
    assert loss.item() == eager_loss.item()
    np.testing.assert_array_equal(out.numpy(), model(x).numpy())
    for g, p in zip(compiled_grads, model.parameters(), strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())
    assert "matmul" in str(step.program([x], y))
