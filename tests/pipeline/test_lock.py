"""One run per output folder: a second run is refused at once; a killed holder frees the lock."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shapely.geometry import box, mapping

from fusion.errors import OutputError, OutputLockedError
from fusion.pipeline import RunConfig, run, runner
from fusion.pipeline.lock import HOLDER_NAME, holder_of, output_lock

STARTED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

# A process that takes the lock, says so, then waits to be killed (it keeps the lock object:
# a dropped one is released by its finaliser).
_HOLDER = """
import datetime as dt, sys, time
from pathlib import Path
from fusion.pipeline.lock import acquire
lock = acquire(Path(sys.argv[1]), run_id="holder-run", started=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
print("locked", flush=True)
time.sleep(600)
"""


Holder = tuple[Path, "subprocess.Popen[str]"]


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    """A live process holding the lock of ``tmp_path / "out"``; killed (-9) at the end."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield out, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow  # a second Python process (imports fusion: seconds)
def test_second_holder_is_refused_at_once_naming_the_holder(holder: Holder) -> None:
    out, proc = holder
    t0 = time.perf_counter()
    with (
        pytest.raises(OutputLockedError) as info,
        output_lock(out, run_id="second", started=STARTED),
    ):
        pass
    assert time.perf_counter() - t0 < 2  # refused, not waited
    message = str(info.value)
    assert str(out) in message
    assert f"pid {proc.pid}" in message and socket.gethostname() in message
    assert "holder-run" in message and "2026-01-02" in message
    assert "choose another --out" in message  # the fix
    assert (holder_of(out) or {}).get("pid") == proc.pid  # the holder's record untouched


@pytest.mark.slow  # a second Python process (imports fusion: seconds)
def test_lock_of_a_killed_process_is_recovered(holder: Holder) -> None:
    out, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / HOLDER_NAME).is_file()  # the dead holder's record is left behind...
    with output_lock(out, run_id="after-crash", started=STARTED):  # ...and does not block
        assert (holder_of(out) or {}).get("run_id") == "after-crash"
    assert not (out / HOLDER_NAME).exists()


def test_lock_is_reentrant_for_nobody_and_released_after_use(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with output_lock(out, run_id="a", started=STARTED):
        assert out.is_dir()
        # Even the same process cannot write one folder twice at a time (threads, notebooks).
        with (
            pytest.raises(OutputLockedError, match="run a"),
            output_lock(out, run_id="b", started=STARTED),
        ):
            pass
    with output_lock(out, run_id="c", started=STARTED):
        assert json.loads((out / HOLDER_NAME).read_text())["run_id"] == "c"


def test_unwritable_folder_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # Root ignores permission bits; a path under a regular file fails for everyone.
    with (
        pytest.raises(OutputError, match=r"not writable.*choose another --out"),
        output_lock(blocker / "out", run_id="x", started=STARTED),
    ):
        pass


@pytest.fixture(scope="module")
def small_aoi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aoi") / "small.geojson"
    geometry = mapping(box(24.450, 0.785, 24.465, 0.800))
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return path


def _config(aoi: Path, out: Path) -> RunConfig:
    return RunConfig(
        aoi=aoi, out=out, start=dt.date(2023, 1, 1), end=dt.date(2023, 6, 30), series="sentinel2"
    )


@pytest.mark.slow  # a second Python process (imports fusion: seconds)
def test_run_into_a_locked_folder_is_refused_and_writes_nothing(
    holder: Holder, small_aoi: Path
) -> None:
    out, proc = holder
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(OutputLockedError, match=f"pid {proc.pid}"):
        run(_config(small_aoi, out), progress=False)
    assert sorted(p.name for p in out.iterdir()) == before  # no staging folder, nothing else


@pytest.mark.slow
def test_lock_is_released_after_a_failed_run(
    small_aoi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"

    def broken_tile(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tile failed")

    monkeypatch.setattr(runner, "process_tile", broken_tile)
    with pytest.raises(RuntimeError, match="tile failed"):
        run(_config(small_aoi, out), progress=False)
    assert not (out / HOLDER_NAME).exists()
    # Another process can take it now.
    code = (
        "import datetime as dt, sys; from pathlib import Path; "
        "from fusion.pipeline.lock import acquire; "
        "acquire(Path(sys.argv[1]), run_id='next', started=dt.datetime.now(dt.UTC))"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=60)
