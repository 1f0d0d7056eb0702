"""A real STAC API for the catalogue tests: stac-fastapi-pgstac on a throw-away PostgreSQL.

PostgreSQL 15 + PostGIS run from a temporary data folder on 127.0.0.1 (unix socket in the same
folder), pgstac is migrated with pypgstac, and the stac-fastapi-pgstac app is served by uvicorn
in a background thread. A small ASGI middleware (:class:`FaultInjector`) answers the next N
requests with 429/503 or delays them, so retries and timeouts are tested against the real
HTTP stack of pystac-client (requests + urllib3), not a mock.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stac_faults import FaultInjector
from stac_testdata import collection_doc, generated_items, read_features, real_items

# Where Debian/Ubuntu (apt.postgresql.org too) put the server binaries.
_PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin")


class ServerUnavailableError(RuntimeError):
    """PostgreSQL, PostGIS or the STAC API cannot be started on this machine."""


def find_pg_bin() -> Path:
    """The folder with initdb/pg_ctl/postgres (PATH first, then the usual install folders)."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    for pattern in _PG_BIN_GLOBS:
        for folder in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
                return folder
    raise ServerUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "
        "`apt-get install -y postgresql-15 postgresql-15-postgis-3`"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Postgres:
    """A PostgreSQL cluster in a temporary folder, owned by the ``postgres`` user under root."""

    root: Path
    port: int
    bin_dir: Path
    _as_user: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> Postgres:
        bin_dir = find_pg_bin()
        root = Path(tempfile.mkdtemp(prefix="fusion-pgstac-"))
        as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as err:
                shutil.rmtree(root, ignore_errors=True)
                raise ServerUnavailableError(
                    "running as root and no `postgres` user exists"
                ) from err
            os.chown(root, pw.pw_uid, pw.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        pg = cls(root=root, port=free_port(), bin_dir=bin_dir, _as_user=as_user)
        try:
            pg._run(
                "initdb",
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            )
            # fsync off etc.: a disposable test database, speed over durability.
            options = (
                f"-h 127.0.0.1 -p {pg.port} -k {root} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=50"
            )
            pg._run(
                "pg_ctl",
                "-D",
                str(root / "data"),
                "-o",
                options,
                "-l",
                str(root / "postgres.log"),
                "-w",
                "-t",
                "30",
                "start",
            )
        except BaseException:
            pg.stop()
            raise
        return pg

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self._as_user, str(self.bin_dir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        if done.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise ServerUnavailableError(
                f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").is_file():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def load_pgstac(dsn: str, collections: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """Migrate pgstac into the database and load the collections and items."""
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    with PgstacDB(dsn=dsn) as db:
        available = db.query_one(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
        )
        if not available:
            raise ServerUnavailableError(
                "PostGIS is not installed for this PostgreSQL; install it with "
                "`apt-get install -y postgresql-15-postgis-3`"
            )
        Migrate(db).run_migration()
        # numberMatched is off by default in pgstac; pystac-client's matched() needs it.
        db.query_one(
            "UPDATE pgstac.pgstac_settings SET value = 'on' WHERE name = 'context' RETURNING 1"
        )
        loader = Loader(db=db)
        loader.load_collections(iter(collections), Methods.upsert)
        loader.load_items(iter(items), Methods.upsert)


def build_app(dsn_parts: dict[str, Any]) -> Any:
    """The stac-fastapi-pgstac app, connected to our database (not to $PG* variables)."""
    # stac-fastapi logs "Using default values for stac_fastapi_title..." for a Settings()
    # built at import time; our titles are set below.
    logging.getLogger("stac_fastapi.types.config").setLevel(logging.ERROR)
    from fastapi import FastAPI
    from stac_fastapi.pgstac.app import instantiate_api
    from stac_fastapi.pgstac.config import PostgresSettings, Settings
    from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
    from stac_fastapi.pgstac.models.extensions import Extensions

    postgres = PostgresSettings(**dsn_parts)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(app, postgres_settings=postgres)
        yield
        await close_db_connection(app)

    settings = Settings(
        stac_fastapi_title="fusion test STAC API",
        stac_fastapi_description="stac-fastapi-pgstac for the fusion catalogue tests",
        stac_fastapi_landing_id="fusion-test",
        stac_fastapi_version="test",
    )
    api = instantiate_api(
        lifespan=lifespan, settings=settings, extensions=Extensions(settings=settings)
    )
    return api.app


class UvicornThread:
    """uvicorn serving an ASGI app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="stac-api", daemon=True)

    def start(self, timeout_s: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServerUnavailableError("uvicorn did not start the STAC API (see log above)")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class StacTestServer:
    """Handle on the running API for the tests."""

    url: str
    faults: FaultInjector
    items: list[dict[str, Any]]
    generated: list[dict[str, Any]]
    startup_s: float

    def items_in(self, collections: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(collections)
        return [i for i in self.items if i["collection"] in wanted]


@contextlib.contextmanager
def running_server(stac_items: Path) -> Iterator[StacTestServer]:
    """Start PostgreSQL + pgstac + the API, yield a handle, tear everything down."""
    t0 = time.perf_counter()
    missing = [
        m for m in ("pypgstac", "stac_fastapi", "uvicorn") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ServerUnavailableError(
            f"{', '.join(missing)} not installed; install the test extras (pip install -e '.[test]')"
        )
    real = real_items(stac_items)
    s2_tpl = read_features(
        stac_items / "pystac-client_cassettes/earthsearch_v1_sentinel-2-c1-l2a.json"
    )[0]
    ls_tpl = read_features(
        stac_items / "pystac-client_cassettes/earthsearch_v1_landsat-c2-l2.json"
    )[0]
    generated = generated_items(s2_tpl, ls_tpl)
    items = real + generated
    collections = [collection_doc(c) for c in sorted({i["collection"] for i in items})]

    pg = Postgres.start()
    uv: UvicornThread | None = None
    try:
        load_pgstac(pg.dsn, collections, items)
        app = FaultInjector(
            build_app(
                {
                    "pguser": "postgres",
                    "pgpassword": "unused",
                    "pghost": "127.0.0.1",
                    "pgport": pg.port,
                    "pgdatabase": "postgres",
                }
            )
        )
        uv = UvicornThread(app)
        uv.start()
        yield StacTestServer(
            url=f"http://127.0.0.1:{uv.port}",
            faults=app,
            items=items,
            generated=generated,
            startup_s=time.perf_counter() - t0,
        )
    finally:
        if uv is not None:
            uv.stop()
        pg.stop()
