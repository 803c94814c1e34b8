// Generates src/contracts.ts from the JSON Schemas in docs/schemas (DESIGN §11), which the
// Python contracts generate. `--check` exits 1 when the committed file is stale.
// A small generator for the subset pydantic emits: objects, $ref/$defs, anyOf/oneOf, const,
// enum, arrays and the scalar types; anything else fails loudly rather than guessing.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeOrCheck } from "./committed.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const schemasDir = join(here, "..", "..", "..", "docs", "schemas");
const target = join(here, "..", "src", "contracts.ts");
// Schemas without a title of their own (unions) are named here.
const unionNames = { "event.json": "DomainEvent", "command.reply.json": "CommandReply" };

function literal(value) {
  return JSON.stringify(value);
}

function typeOf(schema, indent) {
  if (schema.$ref) {
    const match = /^#\/\$defs\/(\w+)$/.exec(schema.$ref);
    if (!match) throw new Error(`unsupported $ref ${schema.$ref}`);
    return match[1];
  }
  if ("const" in schema) return literal(schema.const);
  if (schema.enum) return schema.enum.map(literal).join(" | ");
  const members = schema.anyOf ?? schema.oneOf;
  if (members) return members.map((m) => typeOf(m, indent)).join(" | ");
  switch (schema.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = typeOf(schema.items ?? {}, indent);
      return /[ |]/.test(item) ? `ReadonlyArray<${item}>` : `readonly ${item}[]`;
    }
    case "object":
      return objectType(schema, indent);
    case undefined:
      if (Object.keys(schema).length === 0) return "unknown";
  }
  throw new Error(`unsupported schema ${JSON.stringify(schema)}`);
}

function objectType(schema, indent) {
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) {
    return schema.additionalProperties === false ? "Record<string, never>" : "{ [key: string]: unknown }";
  }
  const required = new Set(schema.required ?? []);
  const inner = indent + "  ";
  const lines = properties.map(([name, prop]) => {
    const doc = prop.description ? `${inner}/** ${prop.description} */\n` : "";
    const optional = required.has(name) ? "" : "?";
    return `${doc}${inner}readonly ${name}${optional}: ${typeOf(prop, inner)};`;
  });
  return `{\n${lines.join("\n")}\n${indent}}`;
}

function declaration(name, schema) {
  const doc = schema.description ? `/** ${schema.description.replace(/``/g, "`")} */\n` : "";
  if (schema.type === "object" && schema.properties) {
    return `${doc}export interface ${name} ${objectType(schema, "")}\n`;
  }
  return `${doc}export type ${name} = ${typeOf(schema, "")};\n`;
}

export function render() {
  const named = new Map();
  const add = (name, schema, file) => {
    const text = declaration(name, schema);
    const known = named.get(name);
    if (known !== undefined && known !== text) throw new Error(`${file}: ${name} differs from another schema's`);
    named.set(name, text);
  };
  const files = readdirSync(schemasDir).filter((f) => f.endsWith(".json")).sort();
  for (const file of files) {
    const schema = JSON.parse(readFileSync(join(schemasDir, file), "utf8"));
    for (const [name, def] of Object.entries(schema.$defs ?? {})) add(name, def, file);
    const { $defs, $schema, ...root } = schema;
    const name = schema.title ?? unionNames[file];
    if (!name) throw new Error(`${file}: no title; name it in unionNames`);
    add(name, root, file);
  }
  const header =
    "// Generated from docs/schemas by scripts/generate-types.mjs (npm run generate): do not edit.\n" +
    "// Readers must tolerate fields these types do not list (DESIGN §11).\n\n";
  return header + [...named.keys()].sort().map((n) => named.get(n)).join("\n");
}

writeOrCheck(target, render(), "run `npm run generate` in clients/typescript");
