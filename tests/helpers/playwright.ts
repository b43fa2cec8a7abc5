/** playwright-core for the browser tests; see `fast_check.ts` for why it is named here. */
export { chromium, type Page } from "npm:playwright-core@^1.65.1";
