// Runs wenzi off the main thread: receives {id, bytes}, answers {id, page, ms} or {id, error}.
import init, { warm, recognize } from "./pkg/wenzi_wasm.js";

const ready = (async () => {
  const t = performance.now();
  await init();
  warm();
  postMessage({ ready: true, ms: performance.now() - t });
})().catch((e) => postMessage({ ready: false, error: String(e) }));

onmessage = async ({ data }) => {
  await ready;
  const t = performance.now();
  try {
    const page = JSON.parse(recognize(new Uint8Array(data.bytes)));
    postMessage({ id: data.id, page, ms: performance.now() - t });
  } catch (e) {
    postMessage({ id: data.id, error: String(e), ms: performance.now() - t });
  }
};
