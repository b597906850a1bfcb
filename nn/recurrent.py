"""Recurrent layers: the Elman RNN and the GRU (Cho et al. 2014), PyTorch's parameter names,
gate order, layouts and initialisation.

A sequence x_1, ..., x_L is read with a hidden state h_t = cell(x_t, h_{t-1}), h_0 = 0 unless
given.  The input projections W_ih x_t + b_ih of all steps are one matrix product before the
time loop, which then only multiplies by W_hh.  ``bidirectional`` runs a second cell on the
reversed sequence (parameters suffixed ``_reverse``) and concatenates the two outputs; stacked
layers (``num_layers``) read the previous layer's outputs, through dropout while training when
``dropout`` > 0.  Per-example gradients come from ``ad.vmap``, as for every layer.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import autodiff as ad
from autodiff.random import Generator
from autodiff.tensor import Tensor
from nn import functional as F
from nn import init
from nn.module import Module, Parameter


class _Recurrent(Module):
    """Shared by RNN and GRU: ``gates`` blocks of ``hidden_size`` rows in each weight."""

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        generator: Generator | None = None,
        dtype: Any = None,
        device: str | None = None,
    ):
        super().__init__()
        name = type(self).__name__
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        if dropout and num_layers == 1:
            warnings.warn(
                f"{name}: dropout acts between stacked layers (after every layer but the last), so "
                f"dropout={dropout} with num_layers=1 does nothing",
                UserWarning,
                stacklevel=3,
            )
        self.dropout, self.generator = float(dropout), generator
        for what, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {what} must be a positive int, got {value!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.bidirectional = batch_first, bidirectional
        self.has_bias = bias
        rows = self.gates * hidden_size

        def param(*shape: int) -> Parameter:
            return Parameter(ad.zeros(*shape, dtype=dtype, device=device))

        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes(layer):
                setattr(self, "weight_ih" + suffix, param(rows, size))
                setattr(self, "weight_hh" + suffix, param(rows, hidden_size))
                setattr(self, "bias_ih" + suffix, param(rows) if bias else None)
                setattr(self, "bias_hh" + suffix, param(rows) if bias else None)
        self.reset_parameters(generator)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]

    def reset_parameters(self, generator: Generator | None = None) -> None:
        """Every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in registration order."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, generator)

    def cell(self, projected: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (L, N, input_size), or (N, L, input_size) with ``batch_first``, or unbatched
        (L, input_size); hx (num_layers * directions, N, hidden_size).  Returns (output, h_n):
        output (L, N, directions * hidden_size) (batch first likewise) and the last states h_n."""
        name = type(self).__name__
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected an input (L, N, {self.input_size}), (N, L, {self.input_size}) with "
                f"batch_first, or (L, {self.input_size}), got shape {x.shape}"
            )
        batched = x.ndim == 3
        seq = ad.swapaxes(x, 0, 1) if batched and not self.batch_first else x
        seq = seq if batched else ad.expand_dims(seq, 0)  # (N, L, input_size)
        n, states = seq.shape[0], self.num_layers * self.directions
        if hx is not None:
            hx = hx if batched else ad.expand_dims(hx, 1)
            if hx.shape != (states, n, self.hidden_size):
                raise ValueError(
                    f"{name}: hx must have shape {(states, n, self.hidden_size)}, got {hx.shape}"
                )
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * self.directions + direction
                h = ad.zeros(n, self.hidden_size, dtype=seq.dtype, device=seq.device) if hx is None else hx[k]
                out, h = self._run(seq, h, suffix, reverse=direction == 1)
                outputs.append(out)
                finals.append(h)
            seq = outputs[0] if len(outputs) == 1 else ad.concatenate(outputs, axis=-1)
            if layer < self.num_layers - 1:  # between stacked layers, while training (PyTorch's)
                seq = F.dropout(seq, self.dropout, self.training, self.generator)
        h_n = ad.stack(finals, axis=0)
        if not batched:
            return seq[0], h_n[:, 0]
        return (seq if self.batch_first else ad.swapaxes(seq, 0, 1)), h_n

    def _run(self, seq: Tensor, h: Tensor, suffix: str, reverse: bool) -> tuple[Tensor, Tensor]:
        """One direction of one layer over seq (N, L, size): outputs (N, L, hidden) and h_L."""
        weights = {
            key: getattr(self, key + suffix) for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        projected = F.linear(seq, weights["weight_ih"], weights["bias_ih"])  # every step at once
        length = seq.shape[1]
        outputs: list[Any] = [None] * length
        for t in reversed(range(length)) if reverse else range(length):
            h = self.cell(projected[:, t], h, weights["weight_hh"], weights["bias_hh"])
            outputs[t] = h
        return ad.stack(outputs, axis=1), h

    def extra_repr(self) -> str:
        options = [f"{self.input_size}, {self.hidden_size}"]
        options += [f"num_layers={self.num_layers}"] if self.num_layers != 1 else []
        options += ["bias=False"] if not self.has_bias else []
        options += ["batch_first=True"] if self.batch_first else []
        options += [f"dropout={self.dropout}"] if self.dropout else []
        options += ["bidirectional=True"] if self.bidirectional else []
        return ", ".join(options)


class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or ReLU with
    ``nonlinearity="relu"``)."""

    def __init__(
        self, input_size: int, hidden_size: int, *args: Any, nonlinearity: str = "tanh", **kwargs: Any
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, *args, **kwargs)

    def cell(self, projected: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
        pre = projected + F.linear(h, weight_hh, bias_hh)
        return ad.tanh(pre) if self.nonlinearity == "tanh" else ad.relu(pre)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class GRU(_Recurrent):
    """Gated recurrent unit, gates in PyTorch's order (r, z, n):
    r = sigma(W_ir x + b_ir + W_hr h + b_hr), z = sigma(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h."""

    gates = 3

    def cell(self, projected: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
        size = self.hidden_size
        hidden = F.linear(h, weight_hh, bias_hh)
        rz = ad.sigmoid(projected[:, : 2 * size] + hidden[:, : 2 * size])
        n = ad.tanh(projected[:, 2 * size :] + rz[:, :size] * hidden[:, 2 * size :])
        return n + rz[:, size:] * (h - n)
