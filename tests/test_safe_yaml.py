"""Every YAML file fusion reads is parsed with yaml.safe_load: a tag never constructs objects."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fusion"
UNSAFE = re.compile(r"yaml\.(load|unsafe_load|full_load|load_all|unsafe_load_all)\(|Loader\s*=")


def test_no_unsafe_yaml_loading_in_the_package() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if UNSAFE.search(line)
    ]
    assert not offenders, "use yaml.safe_load: " + "; ".join(offenders)
    assert any("yaml.safe_load(" in p.read_text() for p in PACKAGE.rglob("*.py"))
