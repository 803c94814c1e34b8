// Builds the React test page with the TypeScript client's own devDependencies (esbuild,
// react, react-dom), importing @qahub/notifications from its sources.
// Usage: node build.mjs <folder with main.tsx and App.tsx> <outfile>
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..", "..", "..", "clients", "typescript");
const { build } = createRequire(join(pkg, "package.json"))("esbuild");
const [folder, outfile] = process.argv.slice(2);

await build({
  entryPoints: [join(folder, "main.tsx")],
  bundle: true,
  format: "esm",
  jsx: "automatic",
  outfile,
  nodePaths: [join(pkg, "node_modules")],
  alias: {
    "@qahub/notifications/react": join(pkg, "src", "react.ts"),
    "@qahub/notifications": join(pkg, "src", "index.ts"),
  },
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
});
