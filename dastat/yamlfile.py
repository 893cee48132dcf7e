"""Read a YAML configuration file, refusing by name one that is not UTF-8 YAML text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dastat.errors import ConfigError


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed content of ``path``; ConfigError naming ``what`` and the file when it cannot be read as YAML."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist (or is not a file)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {err.start}: {err.reason}); "
                          "give a YAML file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {path} is not valid YAML: {' '.join(str(err).split())}") from err
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror or err}") from err
