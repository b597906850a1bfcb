"""nn: a small PyTorch-like library on the autodiff engine.

    import nn
    model = nn.MLP([64, 128, 10])
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    train, test = nn.data.digits()
    history = nn.fit(model, nn.functional.cross_entropy, opt, nn.data.DataLoader(train, 32, shuffle=True), 30)

Modules (``module.py``), layers, activations and containers, the lecture's networks
(``builders.py``: MLP, DeepLinear), losses and functions (``functional.py``), initialisation
(``init.py``), layers (``layers.py``, ``recurrent.py``), loss modules (``losses.py``), gradient
clipping (``utils.py``), optimisers and schedules (``optim/``), data (``data/``), the training
loop (``train.py``), model files (``io.py``), training checkpoints (``checkpoint.py``) and
ready-made experiments (``experiments.py``).
"""

from nn import data, experiments, functional, init, optim, utils
from nn.activations import GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from nn.builders import MLP, DeepLinear
from nn.checkpoint import load_checkpoint, save_checkpoint
from nn.compiled import CompiledStep
from nn.containers import ModuleList, Sequential
from nn.io import load, save
from nn.layers import (
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Flatten,
    LayerNorm,
    Linear,
    MaxPool1d,
    MaxPool2d,
    Residual,
)
from nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from nn.module import CheckpointError, Module, Parameter, functional_call
from nn.recurrent import GRU, RNN
from nn.train import Callback, History, StopTraining, evaluate, fit
