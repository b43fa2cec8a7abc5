/**
 * A real browser for tests of the web pages: headless Chromium (playwright-core driving the
 * system's `/usr/bin/chromium`) with a fresh profile and a page that records its script errors,
 * and waiting on the watch page's `<video>` until it plays: started live, then a number of
 * seconds further along.
 */
import { chromium, type Page } from "./playwright.ts";
import { waitFor } from "./wait.ts";

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

export interface TestBrowser extends AsyncDisposable {
  page: Page;
  /** Messages of uncaught errors in the page's scripts. */
  pageErrors: string[];
}

/** A fake camera and microphone (a test pattern and a beep), granted without a prompt. */
export const FAKE_MEDIA_ARGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
];

export interface BrowserOptions {
  /** Chromium switches beside the usual ones, e.g. `FAKE_MEDIA_ARGS`. */
  args?: string[];
}

/** Headless Chromium with a fresh profile, and a page that records script errors. */
export async function openBrowser(opts: BrowserOptions = {}): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...opts.args ?? []],
  });
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  if (Deno.env.get("LOG_TESTS") === "1") {
    page.on("console", (m) => console.error(`[page ${m.type()}] ${m.text()}`));
    page.on(
      "response",
      (r) => console.error(`[page ${performance.now().toFixed(0)}] ${r.status()} ${r.url()}`),
    );
  }
  return {
    page,
    pageErrors,
    async [Symbol.asyncDispose]() {
      await browser.close();
    },
  };
}

/** Where the page's `<video>` is, seconds. */
export function videoTime(page: Page): Promise<number> {
  return page.evaluate<number>("document.querySelector('video').currentTime");
}

/** The watch page's state (`data-state` of `#watch`): "live", "offline", … */
export function watchState(page: Page): Promise<string | null> {
  return page.getAttribute("#watch", "data-state");
}

/**
 * Waits until the watch page is live with its video past 0, then until it has played
 * `seconds` more; resolves with the video time playback started at.
 */
export async function waitForPlayback(
  page: Page,
  seconds: number,
  { what = "playback", timeoutMs = 20_000 } = {},
): Promise<number> {
  const startedAt = await waitFor(`${what} to start`, async () => {
    const t = await videoTime(page);
    return (await watchState(page)) === "live" && t > 0 ? t : undefined;
  }, { timeoutMs });
  await waitFor(`${what} to advance ${seconds} s`, async () => {
    return (await videoTime(page)) >= startedAt + seconds;
  }, { timeoutMs });
  return startedAt;
}
