"""``tradekit serve`` without starting Voila: loopback, token out of argv, culling, config handed to the kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tradekit.ui.cli as cli
from tradekit.cli import main
from tradekit.errors import TradekitError


class FakeProc:
    pid = 999_999

    def __init__(self, cmd, **kw):
        self.cmd, self.kw = cmd, kw
        FakeProc.last = self

    def poll(self):
        return None

    def wait(self, timeout=None):
        return 0


@pytest.fixture
def fake_voila(monkeypatch):
    monkeypatch.setattr(cli.subprocess, "Popen", FakeProc)
    monkeypatch.setattr(cli, "_wait_port", lambda port, proc, timeout: None)
    monkeypatch.setattr(cli.os, "killpg", lambda pid, sig: None)
    monkeypatch.setattr(cli, "port_in_use", lambda port, host="127.0.0.1": False)  # fixed ports, no real bind
    return FakeProc


def test_voila_runs_on_loopback_with_a_token_hidden_cells_and_culling(paper_config, fake_voila, monkeypatch):
    monkeypatch.setenv("TRADEKIT_DASHBOARD_TOKEN", "s3cret-token-value")
    monkeypatch.setenv("KITE_API_SECRET", "kite-secret")
    srv = cli.serve(paper_config, port=8899)
    cmd, kw = fake_voila.last.cmd, fake_voila.last.kw
    assert cmd[1:3] == ["-m", "tradekit.ui.voila_main"] and cmd[3].endswith("dashboards")
    for flag in ("--no-browser", "--port=8899", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--token",
                 f"--Voila.config_file_paths={cli.voila_config_dir()}", "--strip_sources=True", "--show_tracebacks=False",
                 "--MappingKernelManager.cull_interval=10", "--MappingKernelManager.cull_idle_timeout=600",
                 "--MappingKernelManager.cull_connected=False", "--TradekitVoila.closed_kernel_timeout=30"):
        assert flag in cmd
    assert not any("s3cret" in a for a in cmd)
    env = kw["env"]
    assert env["JUPYTER_TOKEN"] == "s3cret-token-value"
    assert env["TRADEKIT_CONFIG"] == paper_config.source
    assert "KITE_API_SECRET" not in env and "TRADEKIT_DASHBOARD_TOKEN" not in env
    assert kw["start_new_session"] is True and kw["cwd"] == Path(paper_config.source).parent  # the config's folder, never the package
    assert not srv.token_generated
    assert srv.url("pnl") == "http://127.0.0.1:8899/voila/render/pnl.ipynb?token=s3cret-token-value"
    assert srv.url("approval", token=False) == "http://127.0.0.1:8899/voila/render/approval.ipynb"


def test_without_a_token_secret_one_is_generated_and_printed_once(paper_config, fake_voila, capsys, monkeypatch):
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    assert main(["serve", "-c", paper_config.source, "--port", "8898"]) == 0
    out = capsys.readouterr().out
    token = fake_voila.last.kw["env"]["JUPYTER_TOKEN"]
    assert len(token) >= 24 and out.count(token) == 4  # the four URLs, nowhere else
    assert "approval.ipynb?token=" in out and "pnl.ipynb?token=" in out and "execution.ipynb?token=" in out
    assert "chain.ipynb?token=" in out
    assert "TRADEKIT_DASHBOARD_TOKEN" in out


def test_a_configured_token_is_never_printed(paper_config, fake_voila, capsys, monkeypatch):
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    monkeypatch.setenv("TRADEKIT_DASHBOARD_TOKEN", "configured-token-123")
    assert main(["serve", "-c", paper_config.source]) == 0
    out = capsys.readouterr().out
    assert "configured-token-123" not in out and "?token=<your TRADEKIT_DASHBOARD_TOKEN>" in out


def test_a_missing_dashboard_folder_is_a_clear_error(paper_config, fake_voila, tmp_path):
    with pytest.raises(TradekitError, match="approval.ipynb"):
        cli.serve(paper_config, dashboards=tmp_path)


def test_the_voila_config_file_keeps_production_settings(project_root):
    conf = json.loads((project_root / "config" / "voila.json").read_text())
    assert conf["VoilaConfiguration"]["strip_sources"] is True
    assert conf["VoilaConfiguration"]["show_tracebacks"] is False
    assert conf["Voila"]["ip"] == "127.0.0.1" and conf["Voila"]["port_retries"] == 0
    assert conf["MappingKernelManager"]["cull_idle_timeout"] > 0


def test_free_port_is_bindable():
    import socket

    p = cli.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))


def test_a_busy_port_is_refused_before_anything_starts_or_is_printed(paper_config, capsys, monkeypatch):
    import socket

    started = []
    monkeypatch.setattr(cli.subprocess, "Popen", lambda *a, **k: started.append(a))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:  # another server on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code = main(["serve", "-c", paper_config.source, "--port", str(port)])
    out = capsys.readouterr()
    assert code == 2 and out.out == "" and out.err.count("\n") == 1
    assert f"127.0.0.1:{port} is already in use" in out.err and "--port 0" in out.err
    assert started == []


def test_a_port_just_released_is_free(paper_config):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.port_in_use(port) is False


def test_the_token_is_redacted_from_log_lines():
    from tradekit.ui.voila_main import scrub

    line = "404 GET /voila/render/x.ipynb?v=1&token=abcDEF-123_x&y=2 (127.0.0.1) 3ms; Authorization: token abcdefgh1234"
    out = scrub(line)
    assert "abcDEF-123_x" not in out and "abcdefgh1234" not in out
    assert "?v=1&token=[redacted]&y=2" in out and "token [redacted]" in out


def test_a_request_with_the_token_leaves_no_token_in_the_server_log(paper_config, tmp_path):
    """A real Voila: requests carrying ``?token=`` (failed ones are logged with their URL) and the startup banner."""
    import requests

    token = "tok-" + "x7Q" * 8
    log_path = tmp_path / "voila.log"
    with log_path.open("wb") as log:
        srv = cli.serve(paper_config, port=0, token=token, stdout=log, stderr=log, ready_timeout=90)
        try:
            for path in ("/voila/render/no-such.ipynb", "/voila/static/no-such.js", "/"):
                requests.get(f"{srv.base_url}{path}?token={token}", timeout=30)
            requests.get(f"{srv.base_url}/voila/render/no-such.ipynb", headers={"Authorization": f"token {token}"},
                         timeout=30)
        finally:
            srv.stop()
    text = log_path.read_text(errors="replace")
    assert "404 GET /voila/render/no-such.ipynb?token=[redacted]" in text  # the request was logged, scrubbed
    assert token not in text


def test_voila_keeps_its_compiled_templates_between_page_loads(monkeypatch, tmp_path):
    """Each page load builds a new exporter and Jinja environment; the templates are compiled once."""
    from jinja2 import Environment
    from nbconvert.exporters.templateexporter import TemplateExporter

    from tradekit.ui.voila_main import compile_templates_once

    monkeypatch.setattr(TemplateExporter, "_create_environment", TemplateExporter._create_environment)  # undone after
    compile_templates_once()
    compile_templates_once()  # idempotent: one cache
    (tmp_path / "page.html.j2").write_text("{% extends 'base.html.j2' %}{% block body %}skeleton{% endblock %}")
    (tmp_path / "base.html.j2").write_text("<html>{% block body %}{% endblock %}</html>")
    compiled = []
    real = Environment.compile
    monkeypatch.setattr(Environment, "compile", lambda self, source, name=None, *a, **k:
                        compiled.append(name) or real(self, source, name, *a, **k))

    def page_load() -> str:
        return TemplateExporter(extra_template_paths=[str(tmp_path)]).environment.get_template("page.html.j2").render()

    assert page_load() == "<html>skeleton</html>"
    first = list(compiled)
    assert "page.html.j2" in first and "base.html.j2" in first
    assert page_load() == "<html>skeleton</html>"  # the next page load: a new environment, nothing compiled
    assert compiled == first
    (tmp_path / "base.html.j2").write_text("<body>{% block body %}{% endblock %}</body>")  # an edited template
    assert page_load() == "<body>skeleton</body>"
