"""The README's first command: serve the bundled example site on loopback, crawl it, and
report the cases it found per year.

    python examples/demo.py            # what `make demo` runs: the crawl, then the report
    python examples/demo.py -f json    # options given: the crawl only, with these options

The site (examples/site, all synthetic) is served by Python's own http.server on 127.0.0.1
at a free port for as long as the crawl runs; leakwatch crawls it as it would a real forum:
robots.txt obeyed (its admin area is disallowed), links followed to depth 2, a short delay
between requests (it is our own server, so 0.05 s rather than the default 1 s). The demo
records into a store of its own in a temporary folder, never into yours.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
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
    with tempfile.TemporaryDirectory(prefix="leakwatch-demo-") as folder:
        store = ["--db", str(Path(folder) / "demo.db")]
        try:
            code = subprocess.call([*leakwatch(), "scan", url, "--delay", "0.05", *store, *argv])
            if argv or code not in (0, 1):
                return code
            print(file=sys.stderr)
            return subprocess.call([*leakwatch(), "report", *store])
        except KeyboardInterrupt:
            return 130
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
