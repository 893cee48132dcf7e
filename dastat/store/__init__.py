"""The results store (SQLite) and the ingesters that fill it from other tools' logs.

Example
-------
>>> store = dastat.store.open("results/dastat.sqlite")        # doctest: +SKIP
>>> store.table(protocol="paper", randomness="batch")          # doctest: +SKIP
"""

from dastat.store.names import normalise_arch, normalise_scheme
from dastat.store.schema import SCHEMA_VERSION
from dastat.store.store import Store, default_path, open

__all__ = ["SCHEMA_VERSION", "Store", "default_path", "normalise_arch", "normalise_scheme", "open"]
