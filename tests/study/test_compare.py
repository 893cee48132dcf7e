"""Studies compared from their exported files: the committed digits studies, and tiny studies written here."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dastat.errors import DastatError, InvalidArgumentError
from dastat.study import compare_studies

STUDIES = Path(__file__).resolve().parents[2] / "results" / "studies"
WHOLE, FEW = STUDIES / "digits", STUDIES / "digits_few"


def _spearman(folder: Path) -> pd.DataFrame:
    frame = pd.read_csv(folder / "predictor_correlations.csv")
    return frame[(frame["level"] == "pair") & (frame["method"] == "spearman")].set_index(
        ["teacher", "student", "predictor"])


def _sign(low: float, high: float) -> str:
    return "" if math.isnan(low) else "+" if low > 0 else "−" if high < 0 else "0"


# --- the committed studies: students on the whole training split (digits) and on 100 images (digits_few)

@pytest.fixture(scope="module")
def real():
    return compare_studies([WHOLE, FEW])


def test_real_table_holds_each_studys_exported_numbers(real):
    assert real.labels == ("digits", "digits_few")
    assert len(real.table) == 4  # 2 studies x 2 pairs
    for folder, label, images in ((WHOLE, "digits", None), (FEW, "digits_few", 100)):
        effect = pd.read_csv(folder / "scheme_effect.csv").set_index(["teacher", "student"])
        spearman = _spearman(folder)
        losses = pd.read_csv(folder / "table.csv")
        for row in real.table[real.table["label"] == label].itertuples(index=False):
            pair = (row.teacher, row.student)
            assert row.train_images == images and row.data == "digits"
            assert row.scheme_f == effect.loc[pair, "f"] and row.scheme_p_value == effect.loc[pair, "p_value"]
            assert (row.n_schemes, row.n_seeds) == (9, 3 if label == "digits" else 5)
            expected = spearman.loc[(*pair, "t_stddev")]
            assert (row.t_stddev_r, row.t_stddev_ci_low, row.t_stddev_ci_high, row.t_stddev_p_perm) == (
                expected["r"], expected["ci_low"], expected["ci_high"], expected["p_perm"])
            mine = losses[(losses["teacher"] == row.teacher) & (losses["student"] == row.student)]
            lowest = mine.loc[mine["s_test_loss"].idxmin()]
            assert row.best == lowest["scheme"] and row.best_loss == lowest["s_test_loss"]
            assert row.best_noise == lowest["s_test_loss_err"]  # the stddev over seeds the table exports
            assert row.random_regret == pytest.approx(mine["s_test_loss"].mean() - lowest["s_test_loss"])
            assert row.not_ranked == "cutmixpick_s"  # no probe: the scorer students were not kept


def test_real_directions_are_read_from_each_interval(real):
    whole, few = _spearman(WHOLE), _spearman(FEW)
    assert len(real.changes) == 2 * whole.loc["resnet20"].shape[0]
    for row in real.changes.to_dict(orient="records"):
        key = (row["teacher"], row["student"], row["predictor"])
        assert row["direction_digits"] == _sign(whole.loc[key, "ci_low"], whole.loc[key, "ci_high"])
        assert row["direction_digits_few"] == _sign(few.loc[key, "ci_low"], few.loc[key, "ci_high"])


def test_real_t_stddev_reverses_for_resnet8_and_is_undecided_for_wrn(real):
    whole, few = _spearman(WHOLE), _spearman(FEW)
    # The CSVs themselves: resnet8's interval lies below 0 on the whole split and above it on 100 images.
    assert whole.loc[("resnet20", "resnet8", "t_stddev"), "ci_high"] < 0 < few.loc[("resnet20", "resnet8",
                                                                                     "t_stddev"), "ci_low"]
    assert whole.loc[("wrn_16_2", "wrn_16_1", "t_stddev"), "ci_low"] < 0  # a null at n = 8
    verdict = real.changes.set_index(["student", "predictor"])["verdict"]
    assert verdict[("resnet8", "t_stddev")] == "reverses"
    assert verdict[("wrn_16_1", "t_stddev")] == "not decided at these n (n = 8 schemes in each)"
    assert verdict[("wrn_16_1", "affinity")] == "same direction"  # [+0.04, +1.00] and [+0.34, +1.00]
    assert verdict[("resnet8", "consistency")] == "not decided at these n (n = 5 schemes in each)"
    assert verdict[("resnet8", "floor")] == "no interval in digits, digits_few"  # constant within each pair


def test_real_best_scheme_changes_and_which_best_holds_in_both(real):
    best = real.best.set_index("student")
    few = pd.read_csv(FEW / "table.csv").set_index(["student", "scheme"])
    whole = pd.read_csv(WHOLE / "table.csv").set_index(["student", "scheme"])
    assert (best.loc["resnet8", "best_digits"], best.loc["resnet8", "best_digits_few"]) == ("identity", "cutmixpick_t")
    # wrn_16_1: digits_few's best (cutmixpick_t) is within the whole-split study's seed sd of its best (cutmix),
    # but cutmix is just beyond the seed sd of cutmixpick_t on 100 images, so the bests are told apart there.
    loss_whole, loss_few = whole.loc["wrn_16_1", "s_test_loss"], few.loc["wrn_16_1", "s_test_loss"]
    gap_whole = loss_whole["cutmixpick_t"] - loss_whole["cutmix"]
    gap_few = loss_few["cutmix"] - loss_few["cutmixpick_t"]
    assert gap_whole <= whole.loc[("wrn_16_1", "cutmix"), "s_test_loss_err"]
    assert gap_few > few.loc[("wrn_16_1", "cutmixpick_t"), "s_test_loss_err"]
    assert best.loc["wrn_16_1", "gap_digits"] == pytest.approx(gap_whole)
    assert best.loc["wrn_16_1", "gap_digits_few"] == pytest.approx(gap_few)
    # So cutmixpick_t is a best of wrn_16_1 in both studies as far as the seeds tell; resnet8's bests are not.
    assert best["verdict"].tolist() == [
        "different best, beyond seed noise",
        "different best; cutmixpick_t is within seed noise of the best in every study"]


def test_real_page_states_the_readings_without_calling_anything_significant(real):
    page = real.to_markdown()
    assert "| resnet20 → resnet8 | t_stddev | -0.71 [-1.00, -0.19] (−) | +0.95 [+0.62, +1.00] (+) | reverses |" in page
    assert "- **digits_few** (`" in page and "100 training images" in page and "whole training split" in page
    assert "share each pair's teacher (the same checkpoint), so they are not independent replications" in page
    assert "significant" not in page.lower()


# --- tiny studies written here, one per verdict

def _write_study(folder: Path, *, name: str, intervals: dict[str, tuple[float, float, float]],
                 losses: dict[str, float], noise: float = 0.01, pairs=(("t", "s"),), train_images: int | None = None,
                 checksum: str = "abc", n: int = 8) -> Path:
    """A study folder as `dastat study` exports it, reduced to the columns the comparison reads."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: {name}\ndata: digits\ntrain_images: "
                                        f"{'null' if train_images is None else train_images}\n"
                                        f"schemes: [{', '.join(losses)}]\n")
    keys = [{"dataset": "digits", "teacher": t, "student": s} for t, s in pairs]
    pd.DataFrame([{**k, "n_schemes": len(losses), "n_runs": 3 * len(losses), "n_seeds": 3, "f": 5.0,
                   "p_value": 0.01} for k in keys]).to_csv(folder / "scheme_effect.csv", index=False)
    pd.DataFrame([{"level": "pair", **k, "predictor": p, "sign": 1, "method": method, "n": n,
                   "r": r, "ci_low": lo, "ci_high": hi, "p_value": 0.04, "p_perm": 0.05, "confidence": 0.95}
                  for k in keys for p, (r, lo, hi) in intervals.items() for method in ("pearson", "spearman")]
                 ).to_csv(folder / "predictor_correlations.csv", index=False)
    best = min(losses, key=losses.get)
    first = next(iter(losses))
    pd.DataFrame([{**k, "predictor": p, "n": len(losses), "chosen": first, "regret": losses[first] - losses[best],
                   "best": best, "best_loss": losses[best], "best_noise": noise,
                   "random_regret": sum(losses.values()) / len(losses) - losses[best]}
                  for k in keys for p in intervals]).to_csv(folder / "predictor_regret.csv", index=False)
    pd.DataFrame([{**k, "scheme": scheme, "s_test_loss": loss, "s_test_loss_err": noise}
                  for k in keys for scheme, loss in losses.items()]).to_csv(folder / "table.csv", index=False)
    pd.DataFrame([{"teacher": t, "teacher_checksum": checksum} for t, _ in pairs]).to_csv(
        folder / "students.csv", index=False)
    return folder


LOSSES = {"identity": 0.20, "flip": 0.18, "cutmix": 0.15}
UNDECIDED_AT_8 = "not decided at these n (n = 8 schemes in each)"


def _verdict(tmp_path: Path, *intervals: tuple[float, float, float], n: int = 8) -> str:
    folders = [_write_study(tmp_path / f"s{i}", name=f"s{i}", intervals={"t_stddev": ci}, losses=LOSSES, n=n)
               for i, ci in enumerate(intervals)]
    return compare_studies(folders).changes["verdict"].iloc[0]


def test_reverses_only_when_one_interval_is_above_zero_and_another_below(tmp_path):
    assert _verdict(tmp_path / "a", (0.8, 0.3, 1.0), (-0.7, -1.0, -0.2)) == "reverses"
    # Opposite estimates, but one interval holds 0: not a reversal.
    assert _verdict(tmp_path / "b", (0.8, 0.3, 1.0), (-0.7, -1.0, 0.1)) == UNDECIDED_AT_8
    # A null between two opposite directions does not hide the reversal.
    assert _verdict(tmp_path / "c", (0.8, 0.3, 1.0), (0.1, -0.5, 0.6), (-0.7, -1.0, -0.2)) == "reverses"


def test_same_direction_needs_every_interval_on_one_side(tmp_path):
    assert _verdict(tmp_path / "a", (0.8, 0.3, 1.0), (0.6, 0.05, 0.9)) == "same direction"
    assert _verdict(tmp_path / "b", (-0.8, -1.0, -0.3), (-0.6, -0.9, -0.05)) == "same direction"
    assert _verdict(tmp_path / "c", (0.8, 0.3, 1.0), (0.6, 0.0, 0.9)) == UNDECIDED_AT_8


def test_two_nulls_are_not_decided_and_say_their_n(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, -0.2, 0.9)}, losses=LOSSES, n=8)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (-0.5, -0.9, 0.2)}, losses=LOSSES, n=5)
    row = compare_studies([a, b]).changes.iloc[0]
    assert (row["direction_a"], row["direction_b"]) == ("0", "0")
    assert row["verdict"] == "not decided at these n (n = 8 in a, n = 5 in b)"


def _best_verdict(tmp_path: Path, losses_a: dict, losses_b: dict, noise: float = 0.01) -> pd.Series:
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=losses_a, noise=noise)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=losses_b, noise=noise)
    return compare_studies([a, b]).best.iloc[0]


def test_same_best(tmp_path):
    row = _best_verdict(tmp_path, LOSSES, {"identity": 0.3, "flip": 0.25, "cutmix": 0.2})
    assert (row["best_a"], row["best_b"], row["verdict"]) == ("cutmix", "cutmix", "same best")
    assert (row["gap_a"], row["gap_b"]) == (0.0, 0.0)


def test_different_best_within_seed_noise_in_both_studies(tmp_path):
    row = _best_verdict(tmp_path, {"flip": 0.155, "cutmix": 0.150}, {"flip": 0.200, "cutmix": 0.208})
    assert (row["best_a"], row["best_b"]) == ("cutmix", "flip")
    assert row["gap_a"] == pytest.approx(0.005) and row["gap_b"] == pytest.approx(0.008)
    assert row["verdict"] == "different best, within seed noise"


def test_one_best_within_seed_noise_of_the_best_in_every_study_is_named(tmp_path):
    # Study b's best (flip) is within a's seed noise; a's best (cutmix) is 0.03 above flip in b: flip is a
    # best in both studies as far as the seeds tell, cutmix is not.
    row = _best_verdict(tmp_path, {"flip": 0.155, "cutmix": 0.150}, {"flip": 0.200, "cutmix": 0.230})
    assert row["gap_a"] == pytest.approx(0.005) and row["gap_b"] == pytest.approx(0.030)
    assert row["near_best"] == "flip"
    assert row["verdict"] == "different best; flip is within seed noise of the best in every study"


def test_different_best_beyond_seed_noise_in_either_study(tmp_path):
    # Each study's best is more than the other study's seed noise above that study's best.
    row = _best_verdict(tmp_path, {"flip": 0.175, "cutmix": 0.150}, {"flip": 0.200, "cutmix": 0.230})
    assert row["gap_a"] == pytest.approx(0.025) and row["gap_b"] == pytest.approx(0.030)
    assert row["near_best"] is None and row["verdict"] == "different best, beyond seed noise"


def test_labels_default_to_the_config_name_then_the_folder(tmp_path):
    a = _write_study(tmp_path / "first", name="same", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    b = _write_study(tmp_path / "second", name="same", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    assert compare_studies([a, b]).labels == ("first", "second")
    assert compare_studies([a, b], labels=["x", "y"]).labels == ("x", "y")


def test_only_shared_pairs_are_compared_and_the_rest_named(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES,
                     pairs=(("t", "s"), ("t2", "s2")))
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    comparison = compare_studies([a, b])
    assert comparison.table[["label", "teacher"]].values.tolist() == [["a", "t"], ["b", "t"]]
    assert comparison.left_out == ("t2 → s2 (only in a)",)
    assert "Left out (not in every study): t2 → s2 (only in a)" in comparison.to_markdown()


def test_different_teacher_checkpoints_are_not_called_shared(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES,
                     checksum="other")
    page = compare_studies([a, b]).to_markdown()
    assert "share each pair's teacher" not in page and "are not one checkpoint" in page


def test_write_puts_the_page_and_three_tables_side_by_side(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (-0.5, -0.9, -0.1)}, losses=LOSSES)
    comparison = compare_studies([a, b])
    written = comparison.write(tmp_path / "out" / "cmp.md")
    assert [p.name for p in written] == ["cmp.md", "cmp-table.csv", "cmp-changes.csv", "cmp-best.csv"]
    assert pd.read_csv(written[2])["verdict"].tolist() == ["reverses"]
    assert written[0].read_text(encoding="utf-8") == comparison.to_markdown()


# --- refusals

def test_fewer_than_two_folders_is_refused(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    for folders in ([a], [], str(a)):
        with pytest.raises(InvalidArgumentError, match="at least 2 study folders"):
            compare_studies(folders)


def test_a_folder_that_is_not_a_study_names_itself_and_the_fix(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DastatError, match=r"empty is not a study's output: it lacks config\.yaml, scheme_effect"
                                          r".*run dastat study first"):
        compare_studies([a, empty])
    with pytest.raises(InvalidArgumentError, match="nowhere is not a folder"):
        compare_studies([a, tmp_path / "nowhere"])
    partial = _write_study(tmp_path / "partial", name="p", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    (partial / "predictor_regret.csv").unlink()
    with pytest.raises(InvalidArgumentError, match=r"partial is not a study's output: it lacks predictor_regret\.csv;"
                                                   r" a study folder holds config\.yaml and the exported CSVs"):
        compare_studies([a, partial])


def test_an_export_without_its_columns_is_refused(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    (b / "table.csv").write_text("teacher,student\nt,s\n")
    with pytest.raises(InvalidArgumentError, match=r"table\.csv lacks the column\(s\) scheme, s_test_loss"):
        compare_studies([a, b])
    (b / "table.csv").write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match=r"cannot read .*table\.csv as CSV"):
        compare_studies([a, b])


def test_labels_must_match_the_folders_one_to_one(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    with pytest.raises(InvalidArgumentError, match="one non-empty name per folder"):
        compare_studies([a, b], labels=["only"])
    with pytest.raises(InvalidArgumentError, match="both labelled 'x'"):
        compare_studies([a, b], labels=["x", "x"])


def test_studies_without_a_common_pair_are_refused(tmp_path):
    a = _write_study(tmp_path / "a", name="a", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES)
    b = _write_study(tmp_path / "b", name="b", intervals={"t_stddev": (0.5, 0.1, 0.9)}, losses=LOSSES,
                     pairs=(("t2", "s2"),))
    with pytest.raises(InvalidArgumentError, match=r"no teacher -> student pair in common \(a: t → s; b: t2 → s2\)"):
        compare_studies([a, b])
