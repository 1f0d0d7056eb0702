"""Credentials and signed URLs never reach outputs, logs or messages; item ids never steer
where files are written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pystac
import pytest
from rasterio.errors import RasterioIOError
from shapely.geometry import box, mapping

from fusion.cli import EXIT_FAILED, main
from fusion.ingest import assets as ingest_assets
from fusion.pipeline import RunConfig, run, runner

pytestmark = pytest.mark.slow

SECRETS = {
    "SH_CLIENT_ID": "fake-sh-client-id-5e1f0c",
    "SH_CLIENT_SECRET": "fake-sh-client-secret-7d2a91",
    "PC_SDK_SUBSCRIPTION_KEY": "fake-pc-subscription-key-3b8c44",
    "AWS_SECRET_ACCESS_KEY": "fake-aws-secret-key-0a9e17",
}
SIGNATURE = "FAKESIG%2Bc0ffee%3D"
SIGNED = (
    "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/B04.tif"
    f"?st=2026-01-01T00%3A00Z&se=2026-01-02&sp=rl&sr=c&sig={SIGNATURE}"
)
START, END = dt.date(2023, 1, 1), dt.date(2023, 6, 30)
FORBIDDEN = (*SECRETS.values(), SIGNATURE, "sig=")


@pytest.fixture(scope="module")
def aoi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aoi") / "aoi.geojson"
    geometry = mapping(box(24.450, 0.785, 24.465, 0.800))
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return path


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CPL_DEBUG", "ON")  # GDAL's own debug messages into the log too


def _tamper(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[list[pystac.Item]], None], *, sensor: str
) -> None:
    """Apply ``change`` to the items of ``sensor`` that each search finds."""
    real = runner.search_items

    def search(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        items = {s: [i.clone() for i in v] for s, v in result.items.items()}
        change(items[sensor])  # type: ignore[index]
        return dataclasses.replace(result, items=items)

    monkeypatch.setattr(runner, "search_items", search)


def _signed_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first item's red band is a Planetary Computer URL with a SAS token, and reading
    it fails the way GDAL reports it: quoting the URL it was given, token and all."""
    _tamper(
        monkeypatch,
        lambda items: setattr(items[0].assets["red"], "href", SIGNED),
        sensor="sentinel2",
    )
    real_open = ingest_assets.open_asset

    def open_asset(href: str) -> None:
        if href.startswith("https://"):  # no network in tests
            raise RasterioIOError(f"'/vsicurl/{href}': HTTP response code: 403")
        real_open(href)

    monkeypatch.setattr(ingest_assets, "open_asset", open_asset)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every log record of every library at DEBUG, as text."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # stac-geoparquet logs `logger.debug(schema, batch)` (a format error that pytest's log
    # capture raises on; logging itself only prints it): its debug records stay out.
    quiet = logging.getLogger("stac_geoparquet")
    quiet_level = quiet.level
    quiet.setLevel(logging.INFO)
    try:
        yield text
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        quiet.setLevel(quiet_level)


def _assert_clean(text: str, where: str) -> None:
    for secret in FORBIDDEN:
        assert secret not in text, f"{secret!r} leaked into {where}"


def test_no_secret_or_signed_url_in_outputs_logs_or_warnings(
    aoi: Path,
    tmp_path: Path,
    secrets_env: None,
    debug_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _signed_asset(monkeypatch)
    out = tmp_path / "out"
    config = RunConfig(
        aoi=aoi, out=out, start=START, end=END, series="sentinel2", on_missing="skip"
    )
    with pytest.warns(UserWarning) as caught:
        result = run(config, progress=False)
    assert result.manifest.status == "partial"
    (skipped,) = result.manifest.skipped_assets
    assert skipped["href"] == SIGNED.split("?")[0]  # named, without its token
    assert "HTTP response code: 403" in skipped["error"]
    log = debug_log.getvalue()
    assert "GDAL" in log or "rasterio" in log, "the debug log should hold library records"
    _assert_clean(log, "the debug log")
    _assert_clean("\n".join(str(w.message) for w in caught), "the warnings")
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in written)
    assert any(p.suffix == ".json" and "stac" in p.parts for p in written)
    for path in written:
        _assert_clean(path.read_bytes().decode("utf-8", errors="replace"), str(path))


def test_error_messages_hold_no_signed_url(
    aoi: Path,
    tmp_path: Path,
    secrets_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _signed_asset(monkeypatch)
    args = ["--debug", "run", "--aoi", str(aoi), "--out", str(tmp_path / "out")]
    args += ["--start", str(START), "--end", str(END), "--sensors", "sentinel2"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == EXIT_FAILED
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("error:") and SIGNED.split("?")[0] in error
    assert "--on-missing skip" in error
    _assert_clean(captured.out + captured.err, "the command's output (with --debug)")


def test_item_ids_cannot_write_outside_the_output_folder(
    aoi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fused outputs are named after Landsat item ids: hostile ids stay file names."""
    hostile = ["../../evil", "a/../../b/evil", "/etc/evil", "..", "C:\\evil"]

    def rename(items: list[pystac.Item]) -> None:
        for item, new_id in zip(items, hostile, strict=False):
            item.id = new_id

    _tamper(monkeypatch, rename, sensor="landsat")
    out = tmp_path / "deep" / "out"
    out.parent.mkdir()
    outside_before = {p for p in tmp_path.rglob("*") if out not in p.parents and p != out}
    end = dt.date(2023, 3, 31)  # fused (the item ids become file names): keep it short
    result = run(RunConfig(aoi=aoi, out=out, start=START, end=end), progress=False)
    outside_after = {p for p in tmp_path.rglob("*") if out not in p.parents and p != out}
    assert outside_after == outside_before
    fused = [r for r in result.manifest.outputs if r.kind == "fused"]
    assert len(fused) >= len(hostile)
    resolved = out.resolve()
    for record in result.manifest.outputs:
        path = (out / record.path).resolve()
        assert path.is_relative_to(resolved) and path.is_file(), record.path
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(resolved), path
