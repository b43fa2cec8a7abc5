import { chromium } from "playwright-core";
const dir = await Deno.makeTempDir();
const ctx = await chromium.launchPersistentContext(dir, { executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox","--disable-gpu","--disable-quic","--no-first-run","--disable-background-networking","--disable-component-update","--disable-sync","--autoplay-policy=no-user-gesture-required"] });
const page = await ctx.newPage();
console.log(await page.evaluate(() => [MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"'), MediaSource.isTypeSupported('video/mp4; codecs="avc1.42e01e"'), document.createElement("video").canPlayType("application/vnd.apple.mpegurl"), navigator.userAgent]));
await ctx.close();
await Deno.remove(dir, {recursive: true});
