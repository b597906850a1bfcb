"""Data: tensor data sets, a seeded mini-batch loader, synthetic sets made on the spot, and
real sets read from local sources (no downloads)."""

from nn.data.loader import DataLoader, TensorDataset, as_dataset, split, standardize
from nn.data.real import digits, digits28, fashion_mnist, mnist, mnist1d, read_idx
from nn.data.synthetic import gaussian_mixture, linear_regression, spirals, teacher_student, two_moons
