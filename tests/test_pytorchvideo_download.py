"""``pytorchvideo:x3d_xs`` and the other published X3D names, as ``vidclass convert`` SOURCE and as
``--model``: downloaded from ``$VIDCLASS_PYTORCHVIDEO_URL`` (here a server on 127.0.0.1 in a
thread, which counts the requests it gets; the real internet is never reached), converted as the
same file from its path is, with the URL and sha256 in the provenance, cached so that a second
use asks the server nothing; and every failed download one ``error:`` line, exit 2, and no file
left in the cache."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from tests.cli import cli_in
from tests.test_x3d_family import pytorchvideo_x3d
from tests.videos import write_video
from vidclass.checkpoints import downloads, read_model_file
from vidclass.checkpoints.sources import kinetics_labels
from vidclass.models import X3D_CONFIGS

x3d_ref = pytest.importorskip("pytorchvideo.models.x3d")  # a dev dependency: always present in CI

Reply = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture(scope="module")
def xs_file(tmp_path_factory) -> Path:
    """An X3D-XS checkpoint (random weights, BatchNorm statistics that matter) laid out as
    pytorchvideo's hub saves X3D_XS.pyth: ``{"model_state": create_x3d(...).state_dict()}``."""
    model = pytorchvideo_x3d("x3d-xs")
    path = tmp_path_factory.mktemp("pyth") / "X3D_XS.pyth"
    torch.save({"model_state": model.state_dict(), "epoch": 300}, path)
    return path


class Server:
    """A local HTTP server: ``replies[path]`` answers a GET of ``path`` (404 otherwise);
    ``requests`` lists the paths asked for."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                reply = server.replies.get(self.path)
                try:
                    if reply is None:
                        self.send_error(404)
                    else:
                        reply(self)
                except OSError:  # the client hung up on a refused body
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/zoo"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def body(data: bytes, *, length: int | None = None, status: int = 200) -> Reply:
    """Send ``data``; a Content-Length of ``length`` (default: its size; -1: none, the body then
    ends when the connection closes)."""

    def reply(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        if length != -1:
            handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        handler.wfile.write(data)
        handler.close_connection = True

    return reply


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    yield served
    served.close()


@pytest.fixture
def run(tmp_path, monkeypatch, server):
    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "*")  # 127.0.0.1 directly, whatever proxy the machine has
    monkeypatch.setenv("NO_PROXY", "*")
    return cli_in(tmp_path, monkeypatch, VIDCLASS_PYTORCHVIDEO_URL=server.url)


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def cached_files(tmp_path: Path) -> list[Path]:
    cache = tmp_path / "cache"
    return sorted(p for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_the_names_are_pytorchvideos_urls(monkeypatch):
    monkeypatch.delenv("VIDCLASS_PYTORCHVIDEO_URL", raising=False)
    root = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
    for name, file in [("x3d_xs", "X3D_XS"), ("x3d_s", "X3D_S"), ("x3d_m", "X3D_M"), ("x3d_l", "X3D_L")]:
        assert downloads.pytorchvideo_url(f"pytorchvideo:{name}") == f"{root}/{file}.pyth"
    monkeypatch.setenv("VIDCLASS_PYTORCHVIDEO_URL", "http://mirror.example/x3d/")
    assert downloads.pytorchvideo_url("pytorchvideo:x3d_m") == "http://mirror.example/x3d/X3D_M.pyth"


def test_a_name_converts_as_its_file_does_and_downloads_once(xs_file, server, run, tmp_path):
    server.replies["/zoo/X3D_XS.pyth"] = body(xs_file.read_bytes())
    named = run("convert", "pytorchvideo:x3d_xs", "-o", "named.safetensors", "--format", "json")
    assert named.exit_code == 0, named.output
    assert server.requests == ["/zoo/X3D_XS.pyth"]
    summary = json.loads(named.stdout)
    assert (summary["source"], summary["format"], summary["classes"]) == ("pytorchvideo:x3d_xs", "pytorchvideo", 400)
    by_path = run("convert", str(xs_file), "-o", "path.safetensors")
    assert by_path.exit_code == 0, by_path.output

    ours, theirs = read_model_file(tmp_path / "named.safetensors"), read_model_file(tmp_path / "path.safetensors")
    assert ours.labels == theirs.labels == tuple(kinetics_labels(400))
    assert ours.preprocessing == theirs.preprocessing == X3D_CONFIGS["x3d-xs"][1]
    assert ours.protocol == theirs.protocol
    assert ours.name == "pytorchvideo:x3d_xs"
    assert ours.provenance == {
        "source": "pytorchvideo:x3d_xs",
        "format": "pytorchvideo",
        "url": f"{server.url}/X3D_XS.pyth",
        "sha256": hashlib.sha256(xs_file.read_bytes()).hexdigest(),
        "conversion": {"variant": "x3d-xs"},
    }
    video = torch.randn(2, 3, 4, 182, 182, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours.model(video), theirs.model(video))

    again = run("convert", "pytorchvideo:x3d_xs", "-o", "again.safetensors")
    assert again.exit_code == 0, again.output
    assert server.requests == ["/zoo/X3D_XS.pyth"]  # the download is cached
    assert len(cached_files(tmp_path)) == 1


def test_predict_with_a_name_downloads_and_converts_once(xs_file, server, run, tmp_path):
    server.replies["/zoo/X3D_XS.pyth"] = body(xs_file.read_bytes())
    write_video(tmp_path / "clip.mp4", num_frames=12, fps=30, width=48, height=32)
    args = ["predict", "-m", "pytorchvideo:x3d_xs", "clip.mp4", "--clips", "1", "--crops", "1", "--format", "jsonl"]
    first = run(*args)
    assert first.exit_code == 0, first.output
    (record,) = [json.loads(line) for line in first.stdout.splitlines()]
    assert record["ok"] and record["views"] == 1
    assert all(label["label"] in kinetics_labels(400) for label in record["labels"])
    (converted,) = [p for p in cached_files(tmp_path) if p.suffix == ".safetensors"]
    stamp = converted.stat().st_mtime_ns
    second = run(*args)
    assert second.exit_code == 0, second.output
    assert [json.loads(line)["labels"] for line in second.stdout.splitlines()] == [record["labels"]]
    assert server.requests == ["/zoo/X3D_XS.pyth"]  # no second request
    assert converted.stat().st_mtime_ns == stamp  # and no second conversion


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/zoo"  # nothing listens there now: the connection is refused


def _torch_bytes(data: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


FAILURES = {
    "404": (None, "HTTP 404"),
    "refused": (None, "cannot download pytorchvideo:x3d_xs"),
    "content-length-over-the-cap": (body(b"\0" * 64, length=300 * 2**20), "byte limit"),
    "body-over-the-cap": (body(b"PK\x03\x04" + b"\0" * (2 * 2**20), length=-1), "byte limit"),
    "cut-short": (body(b"PK\x03\x04" + b"\0" * 1000, length=5000), "after 1004 of 5000 bytes"),
    "an-error-page": (body(b"<html>Service unavailable</html>\n"), "not a PyTorch checkpoint"),
    "no-model-state": (body(_torch_bytes({"weight": torch.zeros(2)})), "holds no pytorchvideo checkpoint"),
}


@pytest.mark.parametrize("command", ["convert", "predict"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_download_is_one_error_line_and_leaves_nothing(server, run, tmp_path, monkeypatch, failure, command):
    reply, words = FAILURES[failure]
    if reply is not None:
        server.replies["/zoo/X3D_XS.pyth"] = reply
    monkeypatch.setattr(downloads, "MAX_BYTES", 2**20)  # the real cap is 256 MiB
    env = {"VIDCLASS_PYTORCHVIDEO_URL": _closed_port()} if failure == "refused" else None
    args = {
        "convert": ["convert", "pytorchvideo:x3d_xs", "-o", "out.safetensors"],
        "predict": ["predict", "-m", "pytorchvideo:x3d_xs", "clip.mp4"],
    }[command]
    message = one_error(run(*args, env=env))
    assert words in message
    if failure != "no-model-state":  # a PyTorch file, just not pytorchvideo's: the download worked
        assert "download it elsewhere and pass the file's path (X3D_XS.pyth)" in message
    assert cached_files(tmp_path) == []
    assert not (tmp_path / "out.safetensors").exists()


def test_an_unknown_name_lists_the_known_ones(server, run, tmp_path):
    known = "known: pytorchvideo:x3d_xs, pytorchvideo:x3d_s, pytorchvideo:x3d_m, pytorchvideo:x3d_l"
    for args in (
        ["convert", "pytorchvideo:x3d_q", "-o", "q.safetensors"],
        ["predict", "-m", "pytorchvideo:x3d_q", "clip.mp4"],
    ):
        assert one_error(run(*args)) == f"error: pytorchvideo:x3d_q: no such pytorchvideo checkpoint; {known}"
    assert server.requests == [] and cached_files(tmp_path) == []


def test_a_variant_other_than_the_names_is_refused_before_downloading(server, run):
    message = one_error(run("convert", "pytorchvideo:x3d_xs", "-o", "o.safetensors", "--variant", "x3d-m"))
    assert "x3d-xs" in message and "--variant x3d-m" in message
    assert "clip and crop" in one_error(run("convert", "pytorchvideo:x3d_xs", "-o", "o.safetensors", "--frames", "8"))
    assert server.requests == []


def test_a_name_is_never_a_path(xs_file, server, run, tmp_path):
    """A file called like the name does not stand in for the download; ./NAME reaches the file."""
    server.replies["/zoo/X3D_XS.pyth"] = body(xs_file.read_bytes())
    (tmp_path / "pytorchvideo:x3d_xs").write_bytes(b"not a checkpoint\n")
    assert run("convert", "pytorchvideo:x3d_xs", "-o", "o.safetensors").exit_code == 0
    assert server.requests == ["/zoo/X3D_XS.pyth"]
    assert "a text file, not a model" in one_error(run("convert", "./pytorchvideo:x3d_xs", "-o", "p.safetensors"))
