// Builds the browser client and demo page into web/dist (esbuild).
import { cpSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const here = new URL(".", import.meta.url).pathname;
mkdirSync(`${here}dist`, { recursive: true });
cpSync(`${here}public`, `${here}dist`, { recursive: true });
await build({
  entryPoints: [`${here}src/demo.ts`],
  bundle: true,
  format: "esm",
  target: "es2022",
  sourcemap: true,
  outfile: `${here}dist/demo.js`,
  logLevel: "warning",
});
