"""Small, fast teachers and data for probe tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dastat import data, models


class TinyNet(nn.Module):
    """A few thousand parameters: a strided conv, pooling and a linear layer, confident enough to vary."""

    def __init__(self, num_classes: int, scale: float = 4.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.fc = nn.Linear(8 * 4, num_classes)
        self.scale = scale

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.scale * self.fc(h)


def _tiny_teacher(dataset, seed: int = 0, scale: float = 4.0):
    torch.manual_seed(seed)  # tests may seed the global generator; library code never does
    return models.wrap(TinyNet(dataset.num_classes, scale), dataset.mean, dataset.std, arch="tiny").eval()


@pytest.fixture(scope="session")
def make_teacher():
    """``make_teacher(dataset, seed=0, scale=4.0)``: a tiny random teacher wrapped with its normalisation."""
    return _tiny_teacher


@pytest.fixture(scope="session")
def digits():
    return data.load("digits")


@pytest.fixture(scope="session")
def teacher(digits):
    return _tiny_teacher(digits)
