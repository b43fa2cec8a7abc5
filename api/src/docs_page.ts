/**
 * The human-readable API reference at `/api/v1/docs`: the generated OpenAPI document
 * rendered on the server into one self-contained HTML page (operations by tag, their
 * parameters, bodies and answers, and the schemas they reference). No scripts and no
 * third-party assets, so it works offline and under a strict Content-Security-Policy.
 */

type Json = Record<string, unknown>;

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function obj(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value as Json : {};
}

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

/** A short description of a schema's type, with links to named schemas. */
function typeOf(schemaValue: unknown): string {
  const schema = obj(schemaValue);
  if (typeof schema.$ref === "string") {
    const name = refName(schema.$ref);
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  let text: string;
  if (schema.type === "array") text = `array of ${typeOf(schema.items)}`;
  else if (Array.isArray(schema.enum)) {
    text = schema.enum.map((v) => esc(JSON.stringify(v))).join(" | ");
  } else if (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) {
    text = ((schema.anyOf ?? schema.oneOf) as unknown[]).map(typeOf).join(" | ");
  } else text = esc(schema.type ?? "any");
  if (typeof schema.format === "string") text += ` (${esc(schema.format)})`;
  if (schema.nullable === true) text += " | null";
  return text;
}

function constraints(schemaValue: unknown): string {
  const s = obj(schemaValue);
  const parts: string[] = [];
  if (typeof s.pattern === "string") parts.push(`pattern <code>${esc(s.pattern)}</code>`);
  if (typeof s.minLength === "number") parts.push(`min length ${s.minLength}`);
  if (typeof s.maxLength === "number") parts.push(`max length ${s.maxLength}`);
  if (s.default !== undefined) parts.push(`default <code>${esc(JSON.stringify(s.default))}</code>`);
  if (s.additionalProperties === false) parts.push("no other fields");
  return parts.join("; ");
}

function describe(schemaValue: unknown): string {
  const s = obj(schemaValue);
  return [s.description === undefined ? "" : esc(s.description), constraints(s)]
    .filter((t) => t !== "").join(". ");
}

/** A table of an object schema's fields, or just its type for anything else. */
function schemaBlock(schemaValue: unknown): string {
  const schema = obj(schemaValue);
  const props = obj(schema.properties);
  if (schema.type !== "object" || Object.keys(props).length === 0) {
    return `<p>${typeOf(schema)}${constraints(schema) ? ` — ${constraints(schema)}` : ""}</p>`;
  }
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const rows = Object.entries(props).map(([name, prop]) =>
    `<tr><td><code>${esc(name)}</code>${required.has(name) ? "" : " <em>optional</em>"}</td>` +
    `<td>${typeOf(prop)}</td><td>${describe(prop)}</td></tr>`
  ).join("");
  const notes = constraints(schema);
  return `<table><tr><th>field</th><th>type</th><th>notes</th></tr>${rows}</table>` +
    (notes ? `<p class="notes">${notes}</p>` : "");
}

function contentBlock(contentValue: unknown): string {
  return Object.entries(obj(contentValue)).map(([type, media]) =>
    `<p class="media"><code>${esc(type)}</code></p>${schemaBlock(obj(media).schema)}`
  ).join("");
}

function operationBlock(method: string, path: string, opValue: unknown): string {
  const op = obj(opValue);
  const id = `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
  const out = [
    `<section class="op" id="${esc(id)}">`,
    `<h3><span class="method ${esc(method)}">${esc(method.toUpperCase())}</span> ` +
    `<code>${esc(path)}</code></h3>`,
  ];
  if (op.summary) out.push(`<p><strong>${esc(op.summary)}</strong></p>`);
  if (op.description) out.push(`<p>${esc(op.description)}</p>`);
  if (Array.isArray(op.security) && op.security.length > 0) {
    const names = op.security.flatMap((s) => Object.keys(obj(s)));
    out.push(
      `<p class="auth">Requires: ${names.map((n) => `<code>${esc(n)}</code>`).join(", ")}</p>`,
    );
  }
  const params = Array.isArray(op.parameters) ? op.parameters.map(obj) : [];
  if (params.length > 0) {
    const rows = params.map((p) =>
      `<tr><td><code>${esc(p.name)}</code>${p.required ? "" : " <em>optional</em>"}</td>` +
      `<td>${esc(p.in)}</td><td>${typeOf(p.schema)}</td>` +
      `<td>${
        p.description
          ? [esc(p.description), constraints(p.schema)].filter(Boolean).join(". ")
          : describe(p.schema)
      }</td></tr>`
    ).join("");
    out.push(
      "<h4>Parameters</h4>",
      `<table><tr><th>name</th><th>in</th><th>type</th><th>notes</th></tr>${rows}</table>`,
    );
  }
  const body = obj(op.requestBody);
  if (body.content) out.push("<h4>Request body</h4>", contentBlock(body.content));
  const responses = Object.entries(obj(op.responses));
  if (responses.length > 0) {
    out.push("<h4>Responses</h4>");
    for (const [status, resValue] of responses) {
      const res = obj(resValue);
      out.push(`<div class="res"><p><code>${esc(status)}</code> ${esc(res.description ?? "")}</p>`);
      if (res.content) out.push(contentBlock(res.content));
      out.push("</div>");
    }
  }
  out.push("</section>");
  return out.join("\n");
}

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{font-family:ui-monospace,monospace;font-size:.92em}
table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.op{border-top:1px solid #ccc;padding-top:.5rem}
.method{display:inline-block;min-width:4.5rem;color:#fff;border-radius:3px;padding:0 .4rem;
  text-align:center;font-size:.8em;background:#555}
.get{background:#2b6cb0}.post{background:#2f855a}.patch{background:#b7791f}.delete{background:#c53030}
.auth,.notes,.media{color:#555}.res{margin-left:1rem}
nav li{list-style:none}
`;

/** The whole page for `doc`, an OpenAPI 3 document. */
export function renderDocsPage(doc: Json): string {
  const info = obj(doc.info);
  const paths = obj(doc.paths);
  const ops: { tag: string; method: string; path: string; op: Json }[] = [];
  for (const [path, itemValue] of Object.entries(paths)) {
    const item = obj(itemValue);
    for (const method of METHODS) {
      if (item[method] === undefined) continue;
      const op = obj(item[method]);
      const tag = Array.isArray(op.tags) && typeof op.tags[0] === "string" ? op.tags[0] : "other";
      ops.push({ tag, method, path, op });
    }
  }
  const tags = [...new Set(ops.map((o) => o.tag))];
  const nav = tags.map((tag) =>
    `<li><strong>${esc(tag)}</strong><ul>${
      ops.filter((o) => o.tag === tag).map((o) =>
        `<li><a href="#op-${esc(o.method)}-${esc(o.path.replace(/[^A-Za-z0-9]+/g, "-"))}">` +
        `${esc(o.method.toUpperCase())} ${esc(o.path)}</a> — ${esc(o.op.summary ?? "")}</li>`
      ).join("")
    }</ul></li>`
  ).join("");
  const sections = tags.map((tag) =>
    `<h2>${esc(tag)}</h2>\n` +
    ops.filter((o) => o.tag === tag).map((o) => operationBlock(o.method, o.path, o.op)).join("\n")
  ).join("\n");
  const components = obj(doc.components);
  const schemas = Object.entries(obj(components.schemas)).map(([name, schema]) =>
    `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${schemaBlock(schema)}</section>`
  ).join("\n");
  const security = Object.entries(obj(components.securitySchemes)).map(([name, s]) =>
    `<li><code>${esc(name)}</code>: ${
      esc(obj(s).description ?? `${obj(s).type} ${obj(s).scheme ?? ""}`)
    }</li>`
  ).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(info.title ?? "API")}</title><style>${STYLE}</style></head>
<body>
<h1>${esc(info.title ?? "API")} <small>${esc(info.version ?? "")}</small></h1>
<p>${esc(info.description ?? "")}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a>. Errors are
<code>{"error": {"code", "message"}}</code>.</p>
${security ? `<h2>Authentication</h2><ul>${security}</ul>` : ""}
<nav><ul>${nav}</ul></nav>
${sections}
<h2>Schemas</h2>
${schemas}
</body></html>
`;
}
