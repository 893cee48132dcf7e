"""Entropy picking keeps exactly the top-scoring part of its pool (against a brute-force sort)."""

import math

import pytest
import torch

import dastat.augment as A
from dastat.errors import InvalidArgumentError


class _LinearScorer(torch.nn.Module):
    def __init__(self, seed: int, num_classes: int = 10, size: int = 32):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(torch.randn(3 * size * size, num_classes, generator=g) / 300)

    def forward(self, images):
        return images.float().flatten(1) @ self.weight


def _images(b=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, 32, 32), generator=g, dtype=torch.uint8)


def _entropy_list(logits):
    out = []
    for row in logits.double().tolist():
        m = max(row)
        z = sum(math.exp(v - m) for v in row)
        p = [math.exp(v - m) / z for v in row]
        out.append(-sum(q * math.log(q) for q in p if q > 0))
    return out


@pytest.mark.parametrize("name", ["cutmixpick_t", "cutmixpick_s"])
def test_pick_keeps_the_highest_entropy_half_of_the_pool(name):
    scheme = A.get(name)
    assert scheme.scorer == ("teacher" if name.endswith("_t") else "student")
    scorer = _LinearScorer(1)
    x = _images()
    y = scheme(x, generator=torch.Generator().manual_seed(4), scorer=scorer)
    assert y.shape == x.shape
    # brute force: replay the two CutMix runs, score every pool image, sort in Python
    g = torch.Generator().manual_seed(4)
    cutmix = A.get("cutmix")
    pool = torch.cat([cutmix(x, generator=g), cutmix(x, generator=g)])
    entropy = _entropy_list(scorer(pool).detach())
    order = sorted(range(len(pool)), key=lambda i: -entropy[i])[: len(x)]
    assert torch.equal(y, pool[order])


def test_kl_criterion_takes_a_teacher_student_pair():
    teacher, student = _LinearScorer(1), _LinearScorer(2)
    scheme = A.pick("cutmix", criterion="kl")
    assert scheme.scorer == "teacher+student"
    x = _images(b=8)
    y, p = scheme(x, generator=torch.Generator().manual_seed(0), scorer=(teacher, student), return_params=True)
    log_t = teacher(torch.cat([y])).log_softmax(-1)
    kl_kept = (log_t.exp() * (log_t - student(y).log_softmax(-1))).sum(-1)
    assert torch.allclose(kl_kept, p.scores[p.kept], atol=1e-5)
    assert torch.all(p.scores[p.kept].min() >= p.scores.sort(descending=True).values[7] - 1e-6)
    with pytest.raises(InvalidArgumentError, match="teacher, student"):
        scheme(x, generator=0, scorer=teacher)


def test_keep_fraction_and_absolute_count():
    x = _images(b=10)
    scorer = _LinearScorer(0)
    assert A.pick("flip", keep=0.3, pool_factor=3)(x, generator=0, scorer=scorer).shape[0] == 9
    paper = A.get("cutmixpick_t", keep_count=64)
    assert paper(x, generator=0, scorer=scorer).shape[0] == 20  # a short batch keeps its whole pool
    assert paper.kept_count(64) == 64


def test_pick_without_scorer_says_which_network_to_pass():
    with pytest.raises(InvalidArgumentError, match=r"scorer=the teacher"):
        A.get("cutmixpick_t")(_images(), generator=0)
    with pytest.raises(InvalidArgumentError, match=r"scorer=the student"):
        A.get("cutmixpick_s")(_images(), generator=0)


def test_pick_leaves_the_scorers_gradients_alone():
    scorer = _LinearScorer(0)
    A.get("cutmixpick_t")(_images(), generator=0, scorer=scorer)
    assert scorer.weight.grad is None
