/**
 * fast-check for the property tests. Test-only packages are named here by full `npm:`
 * specifier rather than in deno.json's import map, and are locked in `deno.test.lock`: what
 * the import map and `deno.lock` name, `deno task` installs before any task, so keeping test
 * packages out of both lets `deno task start` fetch only what the running node needs.
 */
export { default } from "npm:fast-check@^4.10.2";
