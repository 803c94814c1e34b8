// Bundles src/index.ts into the one ESM file every relay serves at
// /static/qahub-notifications.js (committed, so running the system needs no Node).
// `--check` exits 1 when the committed file differs from a fresh build.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { writeOrCheck } from "./committed.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "..", "..", "services", "stream-relay", "src", "stream_relay", "static", "qahub-notifications.js");
const banner =
  "// @qahub/notifications, built from clients/typescript by `npm run bundle`: do not edit.\n" +
  "// Usage: import { createInbox } from \"/static/qahub-notifications.js\";";

const result = await build({
  entryPoints: [join(here, "..", "src", "index.ts")],
  bundle: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  write: false,
  legalComments: "none",
  charset: "utf8",
  banner: { js: banner },
  logLevel: "error",
});
const text = result.outputFiles[0].text;
writeOrCheck(target, text, "run `npm run bundle` in clients/typescript");
