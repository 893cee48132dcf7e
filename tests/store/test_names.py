"""The store's lists of known names are the registries' (docs/method.md, "Schemes" and "Models and checkpoints")."""

from dastat import augment
from dastat.store import normalise_scheme
from dastat.store.names import SCHEME_NAMES, ZOO_NAMES


def _built_in(registry, package: str) -> list[str]:
    # what dastat's own modules filed (tests and notebooks file schemes and models of their own)
    return sorted(n for n, builder in registry._entries.items() if builder.__module__.startswith(package))


def test_scheme_names_are_the_registered_built_in_schemes():
    from dastat.augment.scheme import _SCHEMES

    assert sorted(SCHEME_NAMES) == _built_in(_SCHEMES, "dastat.augment")


def test_zoo_names_are_the_registered_cifar_zoo():
    from dastat.models.zoo import MODELS

    assert sorted(ZOO_NAMES) == [n for n in _built_in(MODELS, "dastat.models") if not n.startswith("tv_")]


def test_parameterised_and_composed_names_pass_through_as_known():
    for name in ("mixup(alpha=0.2)", "randaugment(m=5,n=1)", "flip_crop+cutout(side=4)"):
        assert normalise_scheme(name) == (augment.canonical(name), True)
    assert normalise_scheme("mixup( alpha=0.2 )") == ("mixup(alpha=0.2)", True)
    assert normalise_scheme("foo(a=1)") == ("foo(a=1)", False)


def test_names_with_parentheses_and_commas_survive_the_store_and_its_csv(tmp_path):
    import pandas as pd

    from dastat import store

    names = ["randaugment(m=5,n=1)", "flip_crop+cutout(side=4)", "mixup(alpha=0.2)"]
    db = store.open(tmp_path / "s.sqlite")
    for name in names:
        db.add_probe({"teacher": "resnet8", "dataset": "digits", "scheme": name, "t_stddev": 0.1, "seed": 0,
                      "protocol": "fast", "scheme_params": {"m": 5}})
    assert sorted(db.probes()["scheme"]) == sorted(names)
    path = db.export(tmp_path / "probes.csv", what="probes")
    assert sorted(pd.read_csv(path)["scheme"]) == sorted(names)
