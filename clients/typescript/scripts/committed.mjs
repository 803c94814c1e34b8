// A generated file the repository commits: written, or with `--check` compared (exit 1 if stale).
import { readFileSync, writeFileSync } from "node:fs";

export function writeOrCheck(target, text, howToRegenerate) {
  if (!process.argv.includes("--check")) {
    writeFileSync(target, text);
    return;
  }
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    // missing: stale
  }
  if (current !== text) {
    console.error(`${target} is stale: ${howToRegenerate}`);
    process.exit(1);
  }
}
