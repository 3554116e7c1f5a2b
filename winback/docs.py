"""dbt's documentation site, generated into a fixed folder beside the warehouse and served
locally (``make docs``).

``dbt docs generate --static`` writes ``static_index.html`` into dbt's target folder: one
self-contained page with the manifest and the catalog built in, which opens from disk or
any web server. :func:`generate_dbt_docs` publishes it as ``index.html``, with
``manifest.json`` and ``catalog.json`` for tools, into :func:`dbt_docs_dir`
(``<warehouse dir>/dbt_docs``): a fixed place, unlike dbt's target folder (one per set of
dbt vars, :func:`winback.transform.dbt_target_dir`). The folder is written whole or not at
all: the files go to a temporary folder beside it, which is renamed into place, and the
previous folder is removed only after that. :func:`serve_docs` serves the folder with
the standard library's HTTP server.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from winback.config import Settings
from winback.transform import dbt_target_dir, run_dbt

# What the published folder holds, and where each file comes from in dbt's target folder.
DOCS_FILES = {
    "index.html": "static_index.html",
    "manifest.json": "manifest.json",
    "catalog.json": "catalog.json",
}


@dataclass(frozen=True)
class DocsReport:
    """What :func:`generate_dbt_docs` published: where, how many nodes of each kind, and
    which sources, seeds and columns of sources and seeds have no description (a column
    counts when it is declared in YAML or exists in the warehouse)."""

    folder: Path
    models: int
    sources: int
    seeds: int
    tests: int
    unit_tests: int
    undescribed_sources: tuple[str, ...]
    undescribed_seeds: tuple[str, ...]
    undescribed_columns: tuple[str, ...]
    index_bytes: int
    seconds: float

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    def summary(self) -> str:
        lines = [
            f"dbt docs: {self.index} ({self.index_bytes / 1e6:.1f} MB, {self.seconds:.1f} s): "
            f"{self.models} models, {self.sources} sources, {self.seeds} seeds, "
            f"{self.tests} data tests, {self.unit_tests} unit tests",
            f"without a description: {len(self.undescribed_sources)} sources, "
            f"{len(self.undescribed_seeds)} seeds, {len(self.undescribed_columns)} columns "
            "of sources and seeds",
        ]
        for kind, names in (
            ("source", self.undescribed_sources),
            ("seed", self.undescribed_seeds),
            ("column", self.undescribed_columns),
        ):
            shown = ", ".join(names[:10]) + (
                f", … ({len(names)} in all)" if len(names) > 10 else ""
            )
            if names:
                lines.append(f"  undescribed {kind}s: {shown}")
        return "\n".join(lines)


def dbt_docs_dir(settings: Settings) -> Path:
    """The fixed folder of the docs site: ``<warehouse dir>/dbt_docs``."""
    return settings.warehouse.path.resolve().parent / "dbt_docs"


def generate_dbt_docs(settings: Settings, as_of: dt.date) -> DocsReport:
    """Run ``dbt docs generate --static`` (through :func:`winback.transform.run_dbt`) and
    publish the site into :func:`dbt_docs_dir`: ``index.html`` (dbt's self-contained
    ``static_index.html``), ``manifest.json`` and ``catalog.json``, replacing the previous
    folder whole (a failure leaves the previous folder as it was).

    dbt compiles the project and reads the catalog from the working warehouse, so the
    caller holds the run lock (``winback.locking.run_lock(settings.warehouse.path, ...)``)
    as for any other dbt invocation. The catalog lists the tables as they are: a warehouse
    that was never built gives a site without columns."""
    start = time.perf_counter()
    target = dbt_target_dir(settings)
    # An earlier run's page must never be published as this run's.
    for source in DOCS_FILES.values():
        (target / source).unlink(missing_ok=True)
    run_dbt(["docs", "generate", "--static"], settings, as_of)
    missing = [s for s in DOCS_FILES.values() if not (target / s).is_file()]
    if missing:
        raise RuntimeError(f"dbt docs generate wrote no {', '.join(missing)} in {target}")
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    folder = dbt_docs_dir(settings)
    publish_folder({name: target / source for name, source in DOCS_FILES.items()}, folder)
    return _report(
        manifest,
        catalog,
        folder=folder,
        index_bytes=(folder / "index.html").stat().st_size,
        seconds=time.perf_counter() - start,
    )


def publish_folder(files: dict[str, Path], folder: Path) -> None:
    """Make ``folder`` hold exactly ``files`` (name in the folder → file to copy): copy
    them into a new folder beside it, flush, rename the old folder aside, rename the new
    one into place, then remove the old one. Readers see the old folder or the new one,
    never a half-written one (at worst, between the two renames, none for an instant)."""
    from winback.publish import fsync_path

    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in [*parent.glob(f".{folder.name}.tmp-*"), *parent.glob(f".{folder.name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a run that died half-way
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=parent))
    old: Path | None = None
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the site from other users
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
            fsync_path(staging / name)
        fsync_path(staging)
        if folder.exists():
            old = parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            folder.rename(old)
        try:
            staging.rename(folder)
        except BaseException:
            if old is not None:
                old.rename(folder)
                old = None
            raise
        fsync_path(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _report(
    manifest: dict[str, Any],
    catalog: dict[str, Any],
    *,
    folder: Path,
    index_bytes: int,
    seconds: float,
) -> DocsReport:
    nodes = manifest["nodes"].values()
    count = {kind: sum(n["resource_type"] == kind for n in nodes) for kind in ("model", "seed")}
    undescribed_sources: list[str] = []
    undescribed_seeds: list[str] = []
    undescribed_columns: list[str] = []

    def columns(node: dict[str, Any], built: dict[str, Any] | None, label: str) -> None:
        described = {
            name.lower() for name, col in node["columns"].items() if col.get("description")
        }
        names = {name.lower(): name for name in node["columns"]}
        for name in (built or {}).get("columns", {}):
            names.setdefault(name.lower(), name)
        undescribed_columns.extend(
            f"{label}.{names[key]}" for key in sorted(names) if key not in described
        )

    for source in sorted(manifest["sources"].values(), key=lambda s: s["unique_id"]):
        label = f"{source['source_name']}.{source['name']}"
        if not source.get("description"):
            undescribed_sources.append(label)
        columns(source, catalog.get("sources", {}).get(source["unique_id"]), label)
    seeds = [n for n in nodes if n["resource_type"] == "seed"]
    for seed in sorted(seeds, key=lambda s: s["unique_id"]):
        if not seed.get("description"):
            undescribed_seeds.append(seed["name"])
        columns(seed, catalog.get("nodes", {}).get(seed["unique_id"]), seed["name"])
    return DocsReport(
        folder=folder,
        models=count["model"],
        sources=len(manifest["sources"]),
        seeds=count["seed"],
        tests=sum(n["resource_type"] == "test" for n in nodes),
        unit_tests=len(manifest.get("unit_tests", {})),
        undescribed_sources=tuple(undescribed_sources),
        undescribed_seeds=tuple(undescribed_seeds),
        undescribed_columns=tuple(undescribed_columns),
        index_bytes=index_bytes,
        seconds=seconds,
    )


def docs_server(folder: Path, port: int = 8080, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for the docs folder (not yet serving); port 0 picks a free port."""
    if not (folder / "index.html").is_file():
        raise FileNotFoundError(
            f"No dbt docs in {folder}: generate them first (winback.docs.generate_dbt_docs)."
        )
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    return ThreadingHTTPServer((host, port), handler)


def docs_url(server: ThreadingHTTPServer) -> str:
    """The address a browser opens for ``server``."""
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else str(host)
    shown = "127.0.0.1" if name in ("", "0.0.0.0") else name
    return f"http://{shown}:{port}/"


def serve_docs(folder: Path, port: int = 8080, host: str = "127.0.0.1") -> None:
    """Serve the docs folder at ``http://<host>:<port>/`` until interrupted (Ctrl+C).

    The folder is served by path, so a later :func:`generate_dbt_docs` shows up on the
    next page load without restarting the server."""
    server = docs_server(folder, port, host)
    print(f"Serving dbt docs from {folder} at {docs_url(server)} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
