"""Seed-0 students of the digits study at 30 epochs (../digits) against the same students at 60 epochs (here).

Run from this folder: python compare_30_60.py > compare_30_60.txt
"""

import pandas as pd
from scipy import stats

keys = ["teacher", "student", "scheme"]
runs30 = pd.read_csv("../digits/students.csv")
runs30 = runs30[runs30["seed"] == 0][[*keys, "test_loss"]]
runs60 = pd.read_csv("students.csv")[[*keys, "test_loss"]]
probes = pd.read_csv("probe_summary.csv")[["teacher", "scheme", "t_stddev"]]
both = runs30.merge(runs60, on=keys, suffixes=("_30", "_60")).merge(probes, on=["teacher", "scheme"])
both["change"] = both["test_loss_60"] - both["test_loss_30"]
print(both.sort_values(keys).to_string(index=False, float_format="{:.4f}".format))
print()
for (teacher, student), g in both.groupby(["teacher", "student"]):
    order = stats.spearmanr(g["test_loss_30"], g["test_loss_60"]).statistic
    t_test = stats.ttest_rel(g["test_loss_60"], g["test_loss_30"])
    at30 = stats.spearmanr(g["t_stddev"], g["test_loss_30"]).statistic
    at60 = stats.spearmanr(g["t_stddev"], g["test_loss_60"]).statistic
    print(f"{teacher} -> {student}: mean change 60 - 30 epochs {g['change'].mean():+.4f} (sd {g['change'].std():.4f}, "
          f"paired t p = {t_test.pvalue:.3f}); Spearman of the scheme orders 30 vs 60 {order:+.3f}; "
          f"Spearman(T. stddev, loss) seed 0: {at30:+.3f} at 30 epochs, {at60:+.3f} at 60")
