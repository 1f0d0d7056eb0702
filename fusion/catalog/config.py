"""data_catalog.yaml: find it, parse it (yaml.safe_load), validate it, explain what is wrong.

Lookup order: an explicit path → ``$FUSION_DATA_CATALOG`` → ``./data_catalog.yaml`` → the copy
shipped in the package. Every problem raises :class:`~fusion.errors.ConfigError` whose message
names the file, the field and the fix, on one line (the CLI prints it as is).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import ErrorDetails

from fusion.catalog.sources import SOURCE_KINDS, ConfigModel, SearchSettings, Source
from fusion.errors import ConfigError, SourceError

ENV_VAR: Final = "FUSION_DATA_CATALOG"
FILE_NAME: Final = "data_catalog.yaml"
PACKAGED: Final = Path(__file__).resolve().with_name(FILE_NAME)
_CREDENTIALS: Final = re.compile(r"(\w+://)[^/@\s]+@")


class DataCatalog(ConfigModel):
    """The whole data_catalog.yaml."""

    version: Literal[1] = 1
    default_source: str = "demo"
    search: SearchSettings = Field(default_factory=SearchSettings)
    sources: dict[str, Source] = Field(min_length=1)

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The file this catalogue was read from (None when built in code)."""
        return self._path

    @model_validator(mode="after")
    def _bind_sources(self) -> DataCatalog:
        if self.default_source not in self.sources:
            raise ValueError(
                f"default_source {self.default_source!r} is not one of the sources "
                f"({', '.join(self.sources)}); name one of them or add it under sources"
            )
        bound = {name: src.bind(name, self.search) for name, src in self.sources.items()}
        # The model is frozen; this runs once, inside validation, before anyone sees it.
        object.__setattr__(self, "sources", bound)
        return self

    def source(self, name: str | None = None) -> Source:
        """A source by name (default: ``default_source``); SourceError names the known ones."""
        key = name or self.default_source
        try:
            return self.sources[key]
        except KeyError:
            raise SourceError(
                f"source {key!r} is not in the data catalog (known: {', '.join(self.sources)}); "
                f"pick one of those or add {key!r} under `sources:` in {FILE_NAME}"
            ) from None


def find_catalog_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Which data_catalog.yaml to read: explicit → $FUSION_DATA_CATALOG → ./ → packaged."""
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise ConfigError(
                f"{explicit}: data catalog file not found; pass an existing file "
                f"(copy {PACKAGED} as a starting point)"
            )
        return explicit
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        env_path = Path(from_env).expanduser()
        if not env_path.is_file():
            raise ConfigError(
                f"{env_path}: data catalog file named by ${ENV_VAR} not found; point "
                f"${ENV_VAR} at an existing file or unset it to use ./{FILE_NAME}"
            )
        return env_path
    local = Path.cwd() / FILE_NAME
    if local.is_file():
        return local
    if PACKAGED.is_file():
        return PACKAGED
    raise ConfigError(  # only when the package was installed without its data file
        f"{PACKAGED}: packaged data catalog missing; reinstall fusion or set ${ENV_VAR}"
    )


def load_data_catalog(path: str | os.PathLike[str] | None = None) -> DataCatalog:
    """Read and validate a data catalog (see :func:`find_catalog_path` for which file)."""
    file = find_catalog_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: cannot read the data catalog ({err}); check the file") from err
    return parse_catalog(text, source=file)


def parse_catalog(text: str, *, source: Path) -> DataCatalog:
    """Validate data catalog YAML text; ``source`` names the file in errors and anchors paths."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(source)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"{where}: invalid YAML ({problem}); fix the syntax there (indent with spaces, "
            "quote values that contain ': ' or start with '*', '&', '!')"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping with `sources:` at the top level, got "
            f"{type(data).__name__}; see {PACKAGED} for the layout"
        )
    try:
        catalog = DataCatalog.model_validate(data, context={"base_dir": source.resolve().parent})
    except ValidationError as err:
        details = "; ".join(_explain(e) for e in err.errors(include_url=False))
        raise ConfigError(f"{source}: {details}") from None
    catalog._path = source
    return catalog


load_catalog = load_data_catalog
"""Short name of :func:`load_data_catalog`."""


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # pydantic puts the union tag in the location (sources.x.stac-api.url): drop it.
    if len(parts) >= 3 and parts[0] == "sources" and parts[2] in SOURCE_KINDS:
        del parts[2]
    return ".".join(str(p) for p in parts) or "(top level)"


def _explain(error: ErrorDetails) -> str:
    """One validation error as 'field: problem; fix'."""
    field = _field_path(error["loc"])
    kind = error["type"]
    msg = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if kind == "missing":
        return f"{field}: required but missing; add it"
    if kind == "extra_forbidden":
        return f"{field}: unknown field; remove it or fix its spelling"
    if kind == "union_tag_invalid":
        tag = given.get("kind") if isinstance(given, dict) else given
        return f"{field}: unknown source kind {tag!r}; use one of {', '.join(SOURCE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"{field}: no `kind`; add `kind:` with one of {', '.join(SOURCE_KINDS)}"
    if kind in ("literal_error", "enum"):
        return f"{field}: {given!r} is not allowed; {msg[0].lower()}{msg[1:]}"
    if isinstance(given, str):
        given = _CREDENTIALS.sub(r"\1***@", given)  # never echo a password from the file
    shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
    return f"{field}: {msg}{shown}"
