import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
};

/** Serves the demo web client from `root` (GET only, no directory escape). */
export function newStaticFiles(root: string) {
  return async function serve(res: ServerResponse, path: string): Promise<boolean> {
    // Browsers and tools ask for /favicon.ico whatever the page links: answer with the page's icon.
    const rel = normalize(path === "/" ? "/index.html" : path === "/favicon.ico" ? "/favicon.svg" : path);
    if (rel.includes("..") || !TYPES[extname(rel)]) return false;
    try {
      const body = await readFile(join(root, rel));
      res.writeHead(200, { "content-type": TYPES[extname(rel)] ?? "application/octet-stream" }).end(body);
      return true;
    } catch {
      return false;
    }
  };
}
