#!/usr/bin/env node
// tests/delivery/tflint.mjs — offline parse and lint of jfe's Terraform and Packer HCL.
//
// usage: node tests/delivery/tflint.mjs [--tools DIR] DIR…
//   Every *.tf and *.pkr.hcl file of each DIR is parsed with @cdktf/hcl2json (HashiCorp's
//   hclsyntax parser compiled to WebAssembly; no network, no terraform). Then, per directory:
//   - every variable has a type and a description (Packer: the same); every output a
//     description; variables are declared in alphabetical order in variables.tf;
//   - a terraform block with required_version and required_providers (Terraform dirs);
//   - no provider block in a reusable module (a dir with variables.tf and outputs.tf);
//   - every var.X, local.X, module.X, data.T.N and resource reference T.N is declared;
//   - jfe's invariants: every aws_launch_template / aws_instance / amazon-ebs source has
//     metadata_options with http_tokens = "required" (at least one such block in a dir that
//     launches instances), the hop limit is 1 or 2 where it is a literal, no IAM action
//     "*" or "<service>:*", and route53:ChangeResourceRecordSets never on "*" and always with
//     a TXT record-type condition.
//   Prints "ok …" / "FAIL …" lines and ends with "N passed, M failed"; exit 1 on any failure.
//   --tools DIR: where node_modules/@cdktf/hcl2json is (default build/delivery-tools).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const args = process.argv.slice(2);
let tools = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../build/delivery-tools");
const dirs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--tools") tools = path.resolve(args[++i]);
  else dirs.push(args[i]);
}
if (dirs.length === 0) {
  console.error("usage: tflint.mjs [--tools DIR] DIR…");
  process.exit(2);
}
let hcl;
try {
  hcl = createRequire(path.join(tools, "package.json"))("@cdktf/hcl2json");
} catch (e) {
  console.log(`FAIL @cdktf/hcl2json not found under ${tools} (run tests/delivery/deps.sh): ${e.message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

let passed = 0, failed = 0;
const ok = (msg) => { passed++; console.log(`ok ${msg}`); };
const bad = (msg) => { failed++; console.log(`FAIL ${msg}`); };

// all strings anywhere in a parsed value
function* strings(v) {
  if (typeof v === "string") yield v;
  else if (Array.isArray(v)) for (const x of v) yield* strings(x);
  else if (v && typeof v === "object") for (const x of Object.values(v)) yield* strings(x);
}
// blocks of a kind, e.g. all("metadata_options") anywhere below v: [{...}, …]
function* blocksNamed(v, name) {
  if (Array.isArray(v)) for (const x of v) yield* blocksNamed(x, name);
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (k === name && Array.isArray(x)) for (const b of x) if (b && typeof b === "object") yield b;
      yield* blocksNamed(x, name);
    }
  }
}
const each = (obj) => Object.entries(obj || {});
const first = (x) => (Array.isArray(x) ? x[0] : x);

const BUILTIN_ROOTS = new Set(["each", "count", "self", "path", "terraform", "source", "build",
  "packer", "sources"]);
const PROVIDERS = new Set(["aws", "terraform", "random", "tls", "null", "local", "cloudinit",
  "archive", "http", "time", "external"]);

async function lintDir(dir) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".tf") || f.endsWith(".pkr.hcl")).sort();
  if (files.length === 0) { bad(`${dir}: no .tf or .pkr.hcl file`); return; }
  const parsed = {};
  for (const f of files) {
    const p = path.join(dir, f);
    try {
      parsed[f] = await hcl.parse(p, fs.readFileSync(p, "utf8"));
      ok(`${p}: parses`);
    } catch (e) {
      bad(`${p}: ${String(e.message || e).replace(/\s+/g, " ")}`);
    }
  }
  const isPacker = files.some((f) => f.endsWith(".pkr.hcl"));
  const docs = Object.values(parsed);
  const merged = { variable: {}, output: {}, locals: {}, module: {}, data: {}, resource: {},
    source: {}, terraform: [], provider: {}, packer: [], build: [] };
  for (const d of docs) {
    for (const k of ["variable", "output", "module", "provider"])
      for (const [n, v] of each(d[k])) merged[k][n] = first(v);
    for (const l of d.locals || []) Object.assign(merged.locals, l);
    for (const k of ["data", "resource", "source"])
      for (const [t, byName] of each(d[k]))
        for (const [n, v] of each(byName)) merged[k][`${t}.${n}`] = first(v);
    for (const k of ["terraform", "packer", "build"]) merged[k].push(...(d[k] || []));
  }
  const problems = [];

  // variables and outputs
  for (const [n, v] of each(merged.variable)) {
    if (!v.type) problems.push(`variable "${n}": no type`);
    if (!v.description || !String(v.description).trim()) problems.push(`variable "${n}": no description`);
  }
  for (const [n, v] of each(merged.output))
    if (!v.description || !String(v.description).trim()) problems.push(`output "${n}": no description`);
  if (parsed["variables.tf"]) {
    const names = Object.keys(parsed["variables.tf"].variable || {});
    const text = fs.readFileSync(path.join(dir, "variables.tf"), "utf8");
    const order = [...text.matchAll(/^variable "([^"]+)"/gm)].map((m) => m[1]);
    const sorted = [...order].sort();
    if (order.join() !== sorted.join()) problems.push("variables.tf: variables not in alphabetical order");
    if (names.length !== order.length) problems.push("variables.tf: duplicate variable");
  }

  // terraform block, providers
  if (!isPacker) {
    const tb = merged.terraform.find((t) => t.required_version);
    if (!tb) problems.push("no terraform { required_version } block");
    if (!merged.terraform.some((t) => t.required_providers)) problems.push("no required_providers");
    const reusable = parsed["variables.tf"] && parsed["outputs.tf"];
    if (reusable && Object.keys(merged.provider).length)
      problems.push(`a module must not configure providers (provider ${Object.keys(merged.provider)})`);
  }

  // references
  const declared = {
    var: new Set(Object.keys(merged.variable)),
    local: new Set(Object.keys(merged.locals)),
    module: new Set(Object.keys(merged.module)),
    data: new Set(Object.keys(merged.data)),
    resource: new Set(Object.keys(merged.resource)),
    source: new Set(Object.keys(merged.source)),
  };
  const resourceTypes = new Set([...declared.resource].map((r) => r.split(".")[0]));
  const seen = new Set();
  for (const [f, d] of Object.entries(parsed)) {
    for (const s of strings(d)) {
      if (!s.includes("${")) continue;
      let refs = [];
      try {
        refs = await hcl.getReferencesInExpression(f, s);
      } catch (e) {
        problems.push(`${f}: cannot read expression ${s.slice(0, 60)}: ${e.message || e}`);
        continue;
      }
      for (const r of refs) {
        const parts = r.value.split(".");
        const key = `${f}:${r.value}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const [root, a, b] = parts;
        let missing = null;
        if (root === "var" && !declared.var.has(a)) missing = `var.${a}`;
        else if (root === "local" && !declared.local.has(a)) missing = `local.${a}`;
        else if (root === "module" && !declared.module.has(a)) missing = `module.${a}`;
        else if (root === "data" && b !== undefined && !declared.data.has(`${a}.${b}`)) missing = `data.${a}.${b}`;
        else if (/^[a-z0-9]+_[a-z0-9_]+$/.test(root) && a !== undefined &&
          (PROVIDERS.has(root.split("_")[0]) || resourceTypes.has(root)) &&
          !declared.resource.has(`${root}.${a}`)) missing = `${root}.${a}`;
        if (missing) problems.push(`${f}: ${missing} is not declared`);
      }
    }
  }

  // IMDSv2
  const launchers = [];
  for (const [k, v] of each(merged.resource))
    if (/^(aws_launch_template|aws_instance)\./.test(k)) launchers.push([k, v]);
  for (const [k, v] of each(merged.source))
    if (k.startsWith("amazon-ebs")) launchers.push([`source.${k}`, v]);
  const launchesSomething = launchers.length > 0;
  let imdsBlocks = 0;
  for (const [k, v] of launchers) {
    const mo = v.metadata_options;
    const uses_lt = Array.isArray(v.launch_template) && v.launch_template.length > 0;
    if (!mo) {
      if (!uses_lt) problems.push(`${k}: no metadata_options (IMDSv2 must be required)`);
      continue;
    }
    for (const m of mo) {
      imdsBlocks++;
      if (m.http_tokens !== "required") problems.push(`${k}: metadata_options.http_tokens is ${JSON.stringify(m.http_tokens)}, not "required"`);
      const hop = m.http_put_response_hop_limit;
      if (typeof hop === "number" && (hop < 1 || hop > 2)) problems.push(`${k}: hop limit ${hop} (1 or 2)`);
    }
  }
  if (launchesSomething && imdsBlocks === 0) problems.push("no metadata_options with http_tokens = \"required\"");

  // IAM
  for (const st of blocksNamed(merged, "statement")) {
    const body = st.content ? first(st.content) : st;
    const actions = [].concat(body.actions || []);
    const resources = [].concat(body.resources || []);
    for (const a of actions)
      if (a === "*" || /^[a-z0-9-]+:\*$/.test(a)) problems.push(`IAM statement ${body.sid || "?"}: action ${a}`);
    if (actions.includes("route53:ChangeResourceRecordSets")) {
      if (resources.includes("*")) problems.push(`IAM statement ${body.sid || "?"}: ChangeResourceRecordSets on "*"`);
      const conds = [].concat(body.condition || []);
      if (!conds.some((c) => c.variable === "route53:ChangeResourceRecordSetsRecordTypes" &&
        [].concat(c.values || []).join() === "TXT"))
        problems.push(`IAM statement ${body.sid || "?"}: ChangeResourceRecordSets without a TXT-only condition`);
    }
  }

  const what = `${Object.keys(merged.variable).length} variables, ${Object.keys(merged.output).length} outputs, ` +
    `${Object.keys(merged.resource).length + Object.keys(merged.source).length} resources/sources, ` +
    `${imdsBlocks} metadata_options`;
  if (problems.length) for (const p of problems) bad(`${dir}: ${p}`);
  else ok(`${dir}: lint (${what})`);
}

for (const d of dirs) await lintDir(d);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
