"""The model zoo, the Classifier wrapper (normalisation + network) and checkpoint loading.

``create(name, num_classes, image_size)`` builds RepDistiller's CIFAR zoo with its exact parameter
names (so its checkpoints load strictly) and torchvision's ImageNet classifiers (``tv_*``);
``load_teacher(path)`` reads the checkpoint layouts met in the wild, safely.
"""

from __future__ import annotations

# Importing each family registers its names.
from dastat.models import (  # noqa: F401
    mobilenetv2,
    resnet50,
    resnet_cifar,
    shufflenetv1,
    shufflenetv2,
    torchvision_zoo,
    vgg,
    wrn,
)
from dastat.models.checkpoint import load_student, load_teacher, save_checkpoint
from dastat.models.classifier import Classifier, Normalize, wrap
from dastat.models.embedded import EMBEDDED_TEACHER, embedded_teacher
from dastat.models.zoo import MODELS, create, list_models, register

__all__ = [
    "EMBEDDED_TEACHER",
    "MODELS",
    "Classifier",
    "Normalize",
    "create",
    "embedded_teacher",
    "list_models",
    "load_student",
    "load_teacher",
    "register",
    "save_checkpoint",
    "wrap",
]
