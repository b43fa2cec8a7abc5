import pkg from "hls.js/package.json" with { type: "json" };
console.log("version", pkg.version);
console.log("meta dist", import.meta.resolve("hls.js/dist/hls.min.js"));
const bytes = await Deno.readFile(new URL(import.meta.resolve("hls.js/dist/hls.min.js")));
console.log(bytes.length);
