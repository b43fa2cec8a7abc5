/**
 * `import()` of a module that only some code paths need, resolved when such a path first runs.
 * Deno builds a program's module graph at start from every `import()` whose specifier is a
 * string literal — resolving each module under it and reading the metadata of each npm
 * package — so a literal `import("./archive.ts")` that never runs (the S3 SDK's ~100
 * packages) still cost the origin ~3 MiB of resident memory (measured). A specifier passed in
 * here is a value, which Deno resolves only when the import runs. `specifier` is a bare name
 * from the import map (which also resolves from a role's bundle, `launch.ts`) or an absolute
 * URL: a relative one would resolve against this file.
 */
export function importWhenNeeded<M>(specifier: string): Promise<M> {
  return import(specifier);
}
