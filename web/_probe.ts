import { createRequire } from "node:module";
console.log("meta", import.meta.resolve("hls.js"));
try { console.log("meta dist", import.meta.resolve("hls.js/dist/hls.min.js")); } catch (e) { console.log("meta dist err", String(e)); }
try { const r = createRequire(import.meta.url); console.log("req", r.resolve("hls.js/dist/hls.min.js")); } catch (e) { console.log("req err", String(e)); }
try { const r = createRequire(import.meta.url); console.log("req pkg", r.resolve("hls.js/package.json")); } catch (e) { console.log("req pkg err", String(e)); }
