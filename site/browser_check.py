#!/usr/bin/python3
"""The browser check: site/browser_check.py SITE_DIR [--artefacts DIR] (CTest label `site`).

Serves SITE_DIR with Python's http.server on 127.0.0.1 (a free port) and has headless Chromium
(Debian's /usr/bin/chromium; TUTORIAL_CHROMIUM overrides the path) load it, three runs in all:
  1. one page whose iframes hold every .html page of the site, with --dump-dom (which returns
     once the page and all its frames have loaded) and --enable-logging=stderr --v=0, which
     writes every console message of every frame as a "CONSOLE" line. It fails when Chromium
     fails or times out, when it logs any console message (the site has no JavaScript, so any
     message is an error: a refused resource, a parse error), when a page of the site was not
     requested, or when any request (a page, the stylesheet, an image) was not answered 200 (or
     304, "not modified", for the stylesheet the frames share):
     the server, not the page, says what the browser could not load.
  2. and 3. --screenshot of the index and of lesson 001's page into --artefacts (by default
     build/site-artefacts/), 1280x2000: kept for a person (CI keeps them as artefacts); the check
     is that each is a PNG image.
Every Chromium run is bounded by --timeout seconds and killed with its process group after it.
Chromium runs as root here, hence --no-sandbox. Without Chromium it prints
"TUTORIAL_SKIPPED: missing Chromium" and exits 77 (CTest's SKIP_RETURN_CODE), or fails when
TUTORIAL_NO_SKIP is set, as CI sets it (the rule of common/test_support.hpp's peer_available).
"""
import argparse
import functools
import html
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = "/__every_page__.html"  # served by the check only, never written into the site


def skip(reason):
    no_skip = os.environ.get("TUTORIAL_NO_SKIP", "")
    if no_skip not in ("", "0"):
        print(f"missing: {reason} (TUTORIAL_NO_SKIP is set: CI installs every peer, nothing may skip)")
        sys.exit(1)
    print(f"TUTORIAL_SKIPPED: missing {reason}")
    sys.exit(77)


class Handler(SimpleHTTPRequestHandler):
    requests = []  # (path, status), every request the browser made
    harness = b""

    def do_GET(self):
        if self.path == HARNESS:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(self.harness)))
            self.end_headers()
            self.wfile.write(self.harness)
            return
        super().do_GET()

    def log_request(self, code="-", size="-"):
        if self.path != HARNESS:
            Handler.requests.append((self.path.split("?")[0], int(code)))

    def log_message(self, *args):
        pass


def chromium_run(chromium, args, timeout):
    """(return code, stdout, stderr) of one bounded headless Chromium run."""
    profile = tempfile.mkdtemp(prefix="site-chromium-")
    command = [chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
               "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}"] + args
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               errors="replace", start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return None, out, err
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description="Load every page of the site in headless Chromium.")
    parser.add_argument("site", type=Path)
    parser.add_argument("--artefacts", type=Path, default=ROOT / "build/site-artefacts")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per Chromium run")
    args = parser.parse_args()
    chromium = os.environ.get("TUTORIAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        skip(f"Chromium ({chromium}; apt-get install --no-install-recommends chromium)")
    site = args.site.resolve()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    if "index.html" not in pages:
        print(f"browser_check: no site in {site} (run site/generate.py --out {site})")
        return 1
    Handler.harness = ("<!DOCTYPE html><html lang=\"en\"><title>every page</title><link rel=\"icon\" href=\"data:,\"><body><main>"
                       + "".join(f'<iframe src="/{html.escape(p)}" title="{html.escape(p)}"></iframe>' for p in pages)
                       + '<p id="harness-loaded">every frame requested</p></main></body></html>').encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    problems = []
    try:
        code, dom, err = chromium_run(chromium, ["--enable-logging=stderr", "--v=0", "--dump-dom",
                                                 base + HARNESS], args.timeout)
        if code is None:
            problems.append(f"Chromium did not finish loading the {len(pages)} pages in {args.timeout} s")
        elif code != 0 or "harness-loaded" not in dom:
            problems.append(f"Chromium failed (exit {code}):\n{err[-2000:]}")
        console = [line for line in err.splitlines() if ":CONSOLE" in line]
        problems += [f"console message: {line}" for line in console]
        requested = {path for path, _ in Handler.requests}
        problems += [f"page not loaded: /{p}" for p in pages if f"/{p}" not in requested]
        problems += [f"HTTP {status} for {path}" for path, status in Handler.requests if status not in (200, 304)]
        if "/style.css" not in requested:
            problems.append("the stylesheet /style.css was never requested")
        loaded = len(Handler.requests)
        args.artefacts.mkdir(parents=True, exist_ok=True)
        for name, page in (("index.png", "index.html"), ("lesson-001.png", "lessons/001_hello_coroutines.html")):
            shot = args.artefacts / name
            shot.unlink(missing_ok=True)
            code, _, err = chromium_run(chromium, [f"--screenshot={shot}", "--window-size=1280,2000",
                                                   f"{base}/{page}"], args.timeout)
            if code != 0 or not shot.is_file() or shot.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
                problems.append(f"no screenshot of {page} (exit {code}): {err[-1000:]}")
    finally:
        server.shutdown()
    for p in problems:
        print(p)
    if problems:
        print(f"browser_check: {len(problems)} problems")
        return 1
    print(f"browser_check: Chromium loaded all {len(pages)} pages ({loaded} requests, all 200 or 304), "
          f"no console message; screenshots in {args.artefacts}: index.png, lesson-001.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
