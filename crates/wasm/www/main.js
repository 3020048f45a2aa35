// The page: hands dropped/picked images to worker.js and shows the lines and the time per image.
// `?img=URL` fetches and recognizes that image at load; the result then goes to `window.wenziResult`
// and, with `&report=PATH`, is POSTed to PATH (the CI test reads it from there).
const $ = (id) => document.getElementById(id);
const worker = new Worker("worker.js", { type: "module" });
const params = new URLSearchParams(location.search);
let next = 0;
const pending = new Map();

function recognize(bytes) {
  const id = next++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    worker.postMessage({ id, bytes }, [bytes]);
  });
}

const ready = new Promise((resolve, reject) => {
  worker.onmessage = ({ data }) => {
    if ("ready" in data) {
      if (data.ready) {
        $("status").textContent = `Engine ready (${data.ms.toFixed(0)} ms to load). Drop an image.`;
        resolve(data.ms);
      } else {
        $("status").textContent = `Engine failed to load: ${data.error}`;
        reject(new Error(data.error));
      }
      return;
    }
    pending.get(data.id)(data);
    pending.delete(data.id);
  };
});

async function run(blob, name) {
  await ready;
  $("status").textContent = `Reading ${name}…`;
  $("out").textContent = "";
  $("preview").src = URL.createObjectURL(blob);
  const r = await recognize(await blob.arrayBuffer());
  if (r.error) {
    $("status").textContent = `${name}: ${r.error}`;
  } else {
    $("status").textContent = `${name}: ${r.page.lines.length} lines in ${r.ms.toFixed(0)} ms`;
    $("out").textContent = r.page.lines.map((l) => l.text).join("\n");
  }
  return r;
}

$("pick").onchange = (e) => e.target.files[0] && run(e.target.files[0], e.target.files[0].name);
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) run(f, f.name);
};

if (params.get("img")) {
  (async () => {
    let result;
    try {
      const loadMs = await ready;
      const url = params.get("img");
      const blob = await (await fetch(url)).blob();
      const r = await run(blob, url);
      result = { loadMs, ms: r.ms, error: r.error ?? null, lines: r.error ? [] : r.page.lines.map((l) => l.text) };
    } catch (e) {
      result = { error: String(e), lines: [] };
    }
    window.wenziResult = result;
    if (params.get("report")) {
      await fetch(params.get("report"), { method: "POST", body: JSON.stringify(result) });
    }
  })();
}
