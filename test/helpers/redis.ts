import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/** The machine's Redis (started by .ci/run). */
export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? "redis://127.0.0.1:6379";

/** A key prefix no other test uses, so tests never meet in the shared Redis. */
export function testPrefix(name: string): string {
  return `wrs-test:${name}:${randomBytes(4).toString("hex")}:`;
}

/** Deletes every key under `prefix` (test cleanup). */
export async function deletePrefix(prefix: string, url = REDIS_TEST_URL): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
