"""A progress bar over the probe's rounds of sets (terminal only)."""

from __future__ import annotations

from tqdm.auto import tqdm

from dastat.probe import engine
from dastat.probe.estimator import stddev_of_means
from dastat.probe.protocols import ProbePlan, rel_halfwidth


class RoundProgress:
    """Sets done, and the widest current relative half-width among the schemes."""

    def __init__(self, cfg: ProbePlan, names: list[str], *, enabled: bool):
        self.cfg, self.names, self.enabled, self.bar = cfg, names, enabled, None

    def __enter__(self) -> RoundProgress:
        if self.enabled:
            label = self.names[0] if len(self.names) == 1 else f"{len(self.names)} schemes"
            self.bar = tqdm(total=self.cfg.max_sets, desc=f"probe {label}", unit="set", leave=False)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, out: engine.EngineOutput) -> None:
        if self.bar is None:
            return
        units = max(out.counts.values())
        self.bar.update(units // self.cfg.units_per_set - self.bar.n)
        if units >= 2:
            rels = {n: rel_halfwidth(out.unit_means(n), self.cfg.confidence) for n in self.names}
            widest = max(rels, key=rels.get)
            est, rel = float(stddev_of_means(out.unit_means(widest), self.cfg.units_per_set)), rels[widest]
            self.bar.set_postfix_str(f"{widest} {est:.5f} ±{100 * rel:.1f}% (target {100 * self.cfg.rtol:.0f}%)")
