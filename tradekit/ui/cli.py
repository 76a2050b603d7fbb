"""``tradekit serve``: the Voila dashboards on 127.0.0.1, behind a token, cells hidden.

Voila serves ``dashboards/`` (the approval queue, the P&L, execution and option-chain pages). Each browser tab gets its
own kernel, which reads the journal named by the config the session uses (passed to the
kernels as ``TRADEKIT_CONFIG``), so the dashboards and a running ``tradekit paper`` session
share one store. The token is the ``TRADEKIT_DASHBOARD_TOKEN`` secret (environment or secrets
file); when it is unset a random one is generated and printed once, in the URL. It reaches
Voila through ``JUPYTER_TOKEN``, never through the command line (argv is visible to every
user of the machine) or a log: Voila runs under :mod:`tradekit.ui.voila_main`, which redacts
``token=`` values from every log record (Voila logs the URL of each failed request). Broker credentials are removed from the server's environment:
a dashboard writes requests to the journal and never talks to a broker.

Registered on the main CLI with one line in :mod:`tradekit.cli`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Optional

import typer

from tradekit.errors import TradekitError

TOKEN_SECRET = "TRADEKIT_DASHBOARD_TOKEN"
DASHBOARDS = ("approval", "pnl", "execution", "chain")
# pages added after workspaces were first made: serve copies them into a workspace that lacks them
ADDED_DASHBOARDS = ("chain",)
# Kept out of the server's (and so the kernels') environment: dashboards never hold broker keys.
_DROP_ENV_PREFIXES = ("KITE_",)
_DROP_ENV = {"TRADEKIT_SIGNAL_TOKEN", "TRADEKIT_ALERT_WEBHOOK", "TRADEKIT_TELEGRAM_TOKEN", TOKEN_SECRET}


def dashboards_dir(config_source: str | Path | None = None) -> Path:
    """The dashboards served: the workspace's ``dashboards/`` when it holds every one, else the packaged
    ones (:func:`serve` first copies pages added since into a workspace that lacks them,
    :data:`ADDED_DASHBOARDS`, so an older workspace keeps serving its own copies)."""
    from tradekit.resources import packaged_dir, workspace_of

    ws = workspace_of(config_source)
    if ws is not None and all((ws / "dashboards" / f"{d}.ipynb").is_file() for d in DASHBOARDS):
        return ws / "dashboards"
    return packaged_dir("dashboards")


def _add_new_pages(config_source) -> list[Path]:
    """Copy the pages added to tradekit since (:data:`ADDED_DASHBOARDS`) into an older workspace
    that holds the others; a workspace that cannot take them falls back to the packaged pages."""
    import logging

    from tradekit.resources import workspace_of
    from tradekit.workspace import add_new_copies

    ws = workspace_of(config_source)
    core = [d for d in DASHBOARDS if d not in ADDED_DASHBOARDS]
    if ws is None or not all((ws / "dashboards" / f"{d}.ipynb").is_file() for d in core):
        return []
    try:
        added = add_new_copies(ws, "dashboards", [f"{d}.ipynb" for d in ADDED_DASHBOARDS])
    except OSError as e:
        logging.getLogger(__name__).warning("could not add the new dashboards to %s (%s): serving the packaged ones",
                                            ws, e)
        return []
    for p in added:
        logging.getLogger(__name__).info("added %s to the workspace (a dashboard new in this version)", p)
    return added


def voila_config_dir(config_source: str | Path | None = None) -> Path:
    """The folder of ``voila.json``: the workspace's ``config/`` when it has one, else the packaged config."""
    from tradekit.resources import resolve, workspace_of

    return resolve("config", "voila.json", workspace_of(config_source)).parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server already listens on ``host:port`` (a bind probe, as Voila's own bind).

    SO_REUSEADDR as tornado sets it: a port left in TIME_WAIT by a stopped server is free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def voila_command(dashboards: Path, *, port: int, show_tracebacks: bool = False, cull_interval: int = 10,
                  cull_idle_timeout: int = 600, execute_timeout: int = 120, closed_timeout: int = 30,
                  config_dir: Path | None = None) -> list[str]:
    """The Voila argv (no secrets in it: the token comes from ``JUPYTER_TOKEN``)."""
    return [
        sys.executable, "-m", "tradekit.ui.voila_main", str(dashboards),  # Voila, its log scrubbed of tokens
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        f"--Voila.config_file_paths={config_dir if config_dir is not None else voila_config_dir()}",
        "--token",
        "--strip_sources=True",
        f"--show_tracebacks={bool(show_tracebacks)}",
        # config/jupyter/voila/templates/tradekit: a skeleton of the page as its first paint (found
        # through JUPYTER_PATH, set by serve) instead of a spinner while the kernel starts
        "--template=tradekit",
        # the page (its skeleton) streams while the kernel starts, not after
        "--MappingKernelManager.use_pending_kernels=True",
        f"--VoilaExecutor.timeout={int(execute_timeout)}",
        # Voila leaks a kernel per closed tab (voila-dashboards/voila#1458), and a dashboard's refresh
        # loop keeps its kernel "active" for Jupyter's idle culler: a kernel whose page has been closed
        # for closed_timeout s is shut down at the next cull pass (tradekit.ui.voila_main.cull_closed_pages)
        f"--MappingKernelManager.cull_interval={int(cull_interval)}",
        f"--MappingKernelManager.cull_idle_timeout={int(cull_idle_timeout)}",
        "--MappingKernelManager.cull_connected=False",
        f"--TradekitVoila.closed_kernel_timeout={int(closed_timeout)}",
    ]


class DashboardServer:
    """A Voila server started by :func:`serve`; :meth:`stop` ends it and its kernels."""

    def __init__(self, proc: subprocess.Popen, port: int, token: str, generated: bool, config_path: Path):
        self.proc = proc
        self.port = port
        self.token = token
        self.token_generated = generated
        self.config_path = config_path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, dashboard: str = "approval", *, token: bool = True) -> str:
        """The page of one dashboard, with ``?token=`` when ``token`` is true."""
        u = f"{self.base_url}/voila/render/{dashboard}.ipynb"
        return f"{u}?token={self.token}" if token else u

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the server's process group (Voila shuts its kernels down), then SIGKILL if needed."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                return self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.poll()

    def wait(self) -> int:
        return self.proc.wait()

    def __enter__(self) -> "DashboardServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    # Poll the socket, not a page: every page load starts a kernel and runs the notebook.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TradekitError(f"Voila exited with code {proc.returncode} before listening on 127.0.0.1:{port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TradekitError(f"Voila did not listen on 127.0.0.1:{port} within {timeout:g} s")


def serve(config=None, *, port: int = 8866, dashboards: Path | None = None, token: str | None = None,
          show_tracebacks: bool = False, cull_interval: int = 10, cull_idle_timeout: int = 600,
          closed_timeout: int = 30,
          ready_timeout: float = 60.0, stdout: IO | int | None = None, stderr: IO | int | None = None,
          env: dict | None = None) -> DashboardServer:
    """Start Voila on 127.0.0.1 for the dashboards and return once it listens.

    Parameters
    ----------
    config : path or TradekitConfig, optional
        The config the session runs with (default ``$TRADEKIT_CONFIG`` or
        ``config/default.yaml``); its path is handed to the kernels.
    port : int
        0 picks a free port.
    token : str, optional
        Default: the ``TRADEKIT_DASHBOARD_TOKEN`` secret, else a random one
        (:attr:`DashboardServer.token_generated` is then true).
    show_tracebacks : bool
        Show Python tracebacks in the page (tests only: they leak internals).
    cull_interval, cull_idle_timeout : int
        Seconds: how often idle kernels are looked for, and how long idle before culled.
    closed_timeout : int
        Seconds after its page closed (no websocket left) before a kernel is shut down; a
        closed page's kernel is gone within ``closed_timeout + cull_interval`` seconds.
    stdout, stderr, env
        Passed to the server process (``env`` is added to the cleaned environment).
    """
    from tradekit.config import TradekitConfig, load_config
    from tradekit.config.secrets import Secrets

    cfg = config if isinstance(config, TradekitConfig) else load_config(config)
    if not cfg.source:
        raise TradekitError("serve needs a config loaded from a file (the kernels load it by path)")
    cfg_path = Path(cfg.source).resolve()
    from tradekit.resources import workspace_of

    # the server's working folder: the workspace, else the config's folder (never the package)
    root = workspace_of(cfg_path) or cfg_path.parent
    if dashboards is None:
        _add_new_pages(cfg_path)
    folder = Path(dashboards) if dashboards is not None else dashboards_dir(cfg_path)
    missing = [d for d in DASHBOARDS if not (folder / f"{d}.ipynb").exists()]
    if missing:
        raise TradekitError(f"{folder}: no {', '.join(m + '.ipynb' for m in missing)}")
    generated = False
    if token is None:
        token = Secrets.load(cfg.secrets_file).get(TOKEN_SECRET)
    if not token:
        token, generated = secrets.token_urlsafe(24), True
    if port and port_in_use(port):
        # checked before anything is started or printed: Voila would fail to bind, and the URLs
        # printed for this port would answer from the other server
        raise TradekitError(f"127.0.0.1:{port} is already in use by another server; choose another port with "
                            "--port N, or --port 0 for any free port")
    port = port or free_port()
    child_env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV and not k.startswith(_DROP_ENV_PREFIXES)}
    from tradekit.resources import packaged_dir

    # the Voila template ships with the package (config/jupyter/voila/templates/tradekit)
    jpath = os.pathsep.join(x for x in (str(packaged_dir("config") / "jupyter"), child_env.get("JUPYTER_PATH", ""))
                            if x)
    child_env.update({"JUPYTER_TOKEN": token, "TRADEKIT_CONFIG": str(cfg_path), "JUPYTER_PLATFORM_DIRS": "1",
                      "PYTHONUNBUFFERED": "1", "JUPYTER_PATH": jpath})
    if workspace_of(cfg_path) is not None:  # a workspace: Voila's and the kernels' files stay inside it
        from tradekit.resources import CACHE_ENV

        cache = Path(cfg.data_dir).expanduser() / "cache"
        for k, sub in {**CACHE_ENV, "JUPYTER_RUNTIME_DIR": "jupyter-runtime"}.items():
            if not child_env.get(k):
                (cache / sub).mkdir(parents=True, exist_ok=True)
                child_env[k] = str(cache / sub)
    child_env.update(env or {})
    cmd = voila_command(folder.resolve(), port=port, show_tracebacks=show_tracebacks, cull_interval=cull_interval,
                        cull_idle_timeout=cull_idle_timeout, closed_timeout=closed_timeout,
                        config_dir=voila_config_dir(cfg_path))
    # its own process group, so stop() ends Voila and every kernel it started
    proc = subprocess.Popen(cmd, cwd=root, env=child_env, stdout=stdout, stderr=stderr, start_new_session=True)
    server = DashboardServer(proc, port, token, generated, cfg_path)
    try:
        _wait_port(port, proc, ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $TRADEKIT_CONFIG or config/default.yaml)")


def serve_command(
    config: Optional[Path] = ConfigOpt,
    port: int = typer.Option(8866, "--port", "-p", min=0, max=65535, help="port on 127.0.0.1 (0: any free port)"),
    cull_idle: int = typer.Option(600, "--cull-idle", min=1,
                                  help="seconds before an idle dashboard kernel is shut down"),
    cull_closed: int = typer.Option(30, "--cull-closed", min=1,
                                    help="seconds after its page closed before a dashboard kernel is shut down"),
    show_tracebacks: bool = typer.Option(False, "--show-tracebacks",
                                         help="show Python tracebacks in the page (debugging)"),
    account: Optional[str] = typer.Option(None, "--account", help="the store's account the dashboards show and "
                                          "send decisions to (default: the config's store.account)"),
) -> None:
    """Serve the dashboards (approval, P&L, execution, option chain: Voila) on 127.0.0.1 with a token, next to a running session."""
    from tradekit.config import load_config

    cfg, env = load_config(config), None
    if account is not None:  # the kernels load the config themselves: $TRADEKIT_ACCOUNT takes the account to them
        from tradekit.account_id import check_store, validate

        account = validate(account, field="--account")
        check_store(cfg.store.url, account, field="--account")
        cfg, env = load_config(config, {"store": {"account": account}}), {"TRADEKIT_ACCOUNT": account}
    server = serve(cfg, port=port, cull_idle_timeout=cull_idle, closed_timeout=cull_closed,
                   show_tracebacks=show_tracebacks, env=env)

    def _term(_sig, _frame):  # a service manager's SIGTERM stops Voila and its kernels too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    typer.echo(f"dashboards for {server.config_path} ({cfg.mode}; journal {cfg.store_url()})")
    for name, label in (("approval", "approval queue"), ("pnl", "P&L and risk"), ("execution", "execution"),
                        ("chain", "option chain")):
        typer.echo(f"  {label:<15} {server.url(name, token=server.token_generated)}")
    if server.token_generated:
        typer.echo(f"  (a new token for this run only; set {TOKEN_SECRET} in the environment or the secrets file "
                   "to keep one)")
    else:
        typer.echo(f"  open with ?token=<your {TOKEN_SECRET}>")
    typer.echo("Ctrl-C stops the dashboards (the session keeps running).")
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    if code:
        raise TradekitError(f"Voila stopped with exit code {code}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the main CLI."""
    app.command("serve")(serve_command)
