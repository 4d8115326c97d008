import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type ChildServer, spawnServer } from "../helpers/child-server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * Every log line is a JSON object with each key once. pino writes a child logger's bindings after
 * its parent's, so `log.child({component: "events"}).child({component: "rabbitmq"})` printed
 * `"component":"events","component":"rabbitmq"`, which log tools read differently (first or last).
 */

/** Top-level keys of a JSON object text, in order, duplicates included. */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(json.slice(i + 1, j));
      expectKey = false;
      i = j;
    } else if (c === "{" || c === "[") {
      depth++;
      expectKey = c === "{" && depth === 1;
    } else if (c === "}" || c === "]") depth--;
    else if (c === "," && depth === 1) expectKey = true;
  }
  return keys;
}

let server: ChildServer | undefined;
after(() => server?.kill());

test("no log line carries a key twice (event bus, media workers, a member joining, shutdown)", async () => {
  assert.deepEqual(topLevelKeys('{"a":1,"b":{"a":2},"c":"x,\\"d\\":","a":3}'), ["a", "b", "c", "a"]);
  server = await spawnServer({
    ROOM_MODE: "mcu",
    PUBLIC_IPV4: "127.0.0.1",
    MEDIA_WORKERS: "1",
    // Nothing listens there: the RabbitMQ sink logs its failed connection attempts.
    RABBITMQ_URL: "amqp://127.0.0.1:1",
    LOG_LEVEL: "debug",
  });
  await waitFor(
    "a log line of the RabbitMQ sink",
    () => server?.logs.some((l) => l.component === "rabbitmq"),
    10_000,
  );
  const member = await TestClient.connect(server.wsUrl);
  assert.equal((await member.join("log-keys", "alice")).s, true);
  server.signal("SIGTERM");
  await server.exited;
  const twice = server.rawLogs.filter((line) => {
    const keys = topLevelKeys(line);
    return new Set(keys).size !== keys.length;
  });
  assert.deepEqual(twice, [], "lines with a key written twice");
  assert.ok(server.rawLogs.length > 5, `only ${server.rawLogs.length} log lines`);
});
