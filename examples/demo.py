"""The README's first command: serve the bundled example site on loopback and crawl it.

    python examples/demo.py            # what `make demo` runs
    python examples/demo.py -f json    # any other `leakwatch scan` options are passed on

The site (examples/site, all synthetic) is served by Python's own http.server on 127.0.0.1
at a free port for as long as the crawl runs; leakwatch crawls it as it would a real forum:
robots.txt obeyed (its admin area is disallowed), links followed to depth 2, a short delay
between requests (it is our own server, so 0.05 s rather than the default 1 s).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def leakwatch() -> list[str]:
    script = Path(sys.executable).parent / "leakwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "leakwatch"]


def main(argv: list[str]) -> int:
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    print(f"demo: serving examples/site at {url} and crawling it", file=sys.stderr, flush=True)
    try:
        return subprocess.call([*leakwatch(), "scan", url, "--delay", "0.05", *argv])
    except KeyboardInterrupt:
        return 130
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
