"""The report's words follow its numbers: teacher quality from accuracy vs chance, strength only when significant."""

from __future__ import annotations

import math

import pytest

from dastat.study.report import _discussion, teacher_quality


@pytest.mark.parametrize(("acc1", "classes", "word"), [
    (10.0, 10, "at chance"),        # the quick study's one-epoch teacher
    (19.9, 10, "at chance"),
    (40.0, 10, "weak"),             # under halfway from chance (10%) to perfect
    (60.0, 10, "good"),
    (99.5, 10, "near-perfect"),     # error 0.5% < a tenth of chance's 90%
    (70.0, 100, "good"),
    (1.5, 100, "at chance"),
    (math.nan, 10, "unevaluated"),
])
def test_teacher_quality_reads_accuracy_against_chance(acc1, classes, word):
    assert teacher_quality(acc1, classes) == word


def test_a_teacher_at_chance_is_not_called_near_perfect():
    class Teacher:
        test_acc1 = 10.0

    class Config:
        schemes, epochs, quick = ("identity", "flip", "cutmix"), 1, True

    class Analysis:
        import pandas as pd

        scheme_effect = pd.DataFrame()

    text = " ".join(_discussion(Analysis(), Config(), [Teacher()], num_classes=10))
    assert "near-perfect" not in text and "Teachers at chance" in text and "10.00%" in text


def _correlations(*pairs):
    import pandas as pd

    # a significant row's interval excludes zero on the side of r; a non-significant one covers zero
    return pd.DataFrame([{"teacher": t, "student": s, "x": "t_stddev", "y": "s_test_loss", "method": "spearman",
                          "r": r, "p_value": p, "p_perm": p,
                          "ci_low": r - 0.1 if p < 0.05 else -0.5, "ci_high": r + 0.1 if p < 0.05 else 0.9}
                         for t, s, r, p in pairs])


@pytest.mark.parametrize(("pairs", "says", "not_said"), [
    ([("a", "b", -0.77, 0.016), ("c", "d", -0.2, 0.6)], "against the paper's direction in a → b", "weak or unstable"),
    ([("a", "b", 0.8, 0.01), ("c", "d", 0.75, 0.02)], "in the paper's direction in every pair", "against"),
    ([("a", "b", 0.8, 0.01), ("c", "d", 0.3, 0.4)], "paper's direction in a → b (Spearman +0.80",
     "in every pair"),
    ([("a", "b", 0.3, 0.4)], "Why a weak or unstable correlation", "paper's direction"),
])
def test_the_discussion_opens_with_the_direction_the_correlations_took(pairs, says, not_said):
    import pandas as pd

    class Teacher:
        test_acc1 = 95.0

    class Config:
        schemes, epochs, quick, train_images = ("identity", "flip", "cutmix"), 150, False, 100

    class Analysis:
        scheme_effect = pd.DataFrame()
        correlations = _correlations(*pairs)

    text = " ".join(_discussion(Analysis(), Config(), [Teacher()], num_classes=10))
    assert says in text and not_said not in text
    assert ("100 training images (10 a class)" in text) == (pairs[0][2] < 0)


def test_an_interval_that_excludes_zero_beside_a_test_that_does_not_reject_is_weak_evidence():
    from dastat.study.report import correlation_words

    words = correlation_words(-0.71, -1.0, -0.19, 0.058)
    assert words.startswith("weak evidence of a correlation against the paper's direction")
    assert "does not reject a zero correlation (p = 0.058)" in words and "none" not in words
