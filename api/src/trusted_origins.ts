/**
 * Which origins the API vouches for with `HOOK_TOKEN` (`API_TRUSTED_ORIGINS`). The API asks
 * every origin in the registry for its recordings, and anything that can write the registry
 * can announce an origin: presenting the token to all of them would hand it to whoever did.
 * A trusted prefix is an http(s) URL; an origin URL matches it when both name the same
 * scheme, host and port and the origin's path lies under the prefix's, segment by segment,
 * so `http://10.0.0.5:8081` trusts neither `http://10.0.0.5:80810` nor `http://10.0.0.5.evil`.
 */

/** `entry` normalised (no trailing slash), or null when it cannot be a trusted prefix. */
export function originPrefix(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return null;
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * True when `prefixes` (normalised by `originPrefix`) vouch for the origin at `url`;
 * `undefined` prefixes vouch for every origin.
 */
export function trustsOrigin(prefixes: readonly string[] | undefined, url: string): boolean {
  if (prefixes === undefined) return true;
  const origin = originPrefix(url);
  if (origin === null) return false;
  return prefixes.some((prefix) => origin === prefix || origin.startsWith(prefix + "/"));
}
