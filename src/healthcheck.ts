import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/**
 * The container HEALTHCHECK: GET /healthz on this machine, exit 0 when it answers 200 within the
 * timeout, 1 otherwise. Reads the server's own PORT_NUMBER, BIND_ADDRESS and CERT_FILE_PATH (HTTPS
 * then, without verifying the certificate: it is our own, reached through 127.0.0.1).
 */
function main(): void {
  const port = Number(process.env.PORT_NUMBER ?? "8080") || 8080;
  const bind = process.env.BIND_ADDRESS ?? "0.0.0.0";
  const host = bind === "0.0.0.0" || bind === "::" || bind === "" ? "127.0.0.1" : bind;
  const tls = (process.env.CERT_FILE_PATH ?? "").trim() !== "";
  const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? "2000") || 2000;
  const request = tls ? httpsRequest : httpRequest;
  const req = request(
    { host, port, path: "/healthz", method: "GET", timeout: timeoutMs, rejectUnauthorized: false },
    (res) => {
      res.resume();
      process.exitCode = res.statusCode === 200 ? 0 : 1;
    },
  );
  req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  req.on("error", (err) => {
    process.stderr.write(`healthcheck: ${err.message}\n`);
    process.exitCode = 1;
  });
  req.end();
}

main();
