#!/usr/bin/env bash
# The browser test of the WebAssembly build: builds www/pkg (build.sh), serves www/ and the
# fixture images with Python's standard library, opens the page in headless Chromium with
# ?img=fixtures/page_008.png&report=/report, and checks the lines the page POSTs back against
# fixtures/images/gt.jsonl. Exits non-zero on any failure or after $WENZI_WASM_TIMEOUT seconds
# (default 600). Needs Debian's chromium (/usr/bin/chromium, or $WENZI_CHROMIUM; installed by
# crates/server/ci/setup.sh) and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"

bash "$here/build.sh"

exec python3 - "$here/www" "$root/fixtures/images" "${WENZI_WASM_TIMEOUT:-600}" <<'PY'
import difflib, functools, http.server, json, os, shutil, subprocess, sys, tempfile, threading

www, fixtures, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
image = "page_008.png"
result, done = {}, threading.Event()

class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript"}

    def translate_path(self, path):
        if path.startswith("/fixtures/"):
            return os.path.join(fixtures, os.path.basename(path.split("?")[0]))
        return super().translate_path(path)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
        if self.path == "/report":
            result.update(json.loads(body))
            done.set()

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=www))
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}/index.html?img=/fixtures/{image}&report=/report"

chromium = os.environ.get("WENZI_CHROMIUM") or next(
    (c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
     if os.path.exists(c)), None) or shutil.which("chromium")
if not chromium:
    sys.exit("wasm test: Chromium not found (apt-get install chromium, or set WENZI_CHROMIUM)")
profile = tempfile.mkdtemp(prefix="wenzi-wasm-chromium-")
browser = subprocess.Popen(
    [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
     "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
     "--remote-debugging-port=0", url],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    if not done.wait(timeout):
        sys.exit(f"wasm test: no result from the page in {timeout:.0f} s ({url})")
finally:
    browser.terminate()
    try:
        browser.wait(10)
    except subprocess.TimeoutExpired:
        browser.kill()
    server.shutdown()
    shutil.rmtree(profile, ignore_errors=True)

if result.get("error"):
    sys.exit(f"wasm test: the page reported an error: {result['error']}")
expected = next(json.loads(l)["lines"] for l in open(os.path.join(fixtures, "gt.jsonl"))
                if json.loads(l)["image"] == image)
got = [l.strip() for l in result["lines"]]
# Each expected line must be read within 10% (spaces ignored): close to an exact match, yet
# tolerant of a dropped full stop or of the space between CJK and Latin text.
squash = lambda s: "".join(s.split())
missing = [l for l in expected
           if max((difflib.SequenceMatcher(None, squash(l), squash(g)).ratio() for g in got),
                  default=0) < 0.9]
print(f"wasm test: {image} in Chromium: {len(got)} lines in {result['ms']:.0f} ms "
      f"(engine load {result['loadMs']:.0f} ms)")
for l in got:
    print(f"  {l}")
if missing:
    sys.exit(f"wasm test: expected lines not read: {missing}")
print("wasm test: ok")
PY
