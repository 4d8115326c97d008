import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { type Channel, type ChannelModel, connect, type MessageProperties } from "amqplib";
import { type Logger, newLogger } from "../../src/lib/logger.ts";

/** The broker every event test uses (the machine's RabbitMQ). */
export const RABBITMQ_TEST_URL = process.env.RABBITMQ_TEST_URL ?? "amqp://guest:guest@127.0.0.1:5672";
export const RABBITMQ_HOST = new URL(RABBITMQ_TEST_URL).hostname;
export const RABBITMQ_PORT = Number(new URL(RABBITMQ_TEST_URL).port || 5672);

/** `amqp://user:pass@127.0.0.1:<port>` for the same broker through a proxy. */
export function urlThroughProxy(port: number): string {
  const u = new URL(RABBITMQ_TEST_URL);
  u.hostname = "127.0.0.1";
  u.port = String(port);
  return u.toString();
}

/** A fresh exchange name per test so parallel runs never share messages. */
export function testExchangeName(): string {
  return `live_events_test_${randomBytes(6).toString("hex")}`;
}

/** Polls `condition` until true; on timeout the error says what it was waiting for and the last state. */
export async function waitFor(
  reason: string,
  condition: () => boolean,
  options: { timeoutMs?: number; intervalMs?: number; state?: () => unknown } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      const state = options.state ? ` (state: ${JSON.stringify(options.state())})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${reason}${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Deletes an exchange a test's sink may have declared (no error when it does not exist). */
export async function deleteExchange(exchange: string): Promise<void> {
  const model = await connect(RABBITMQ_TEST_URL);
  try {
    const channel = await model.createChannel();
    await channel.deleteExchange(exchange);
  } finally {
    await model.close();
  }
}

export interface ReceivedEvent {
  readonly routingKey: string;
  readonly body: Record<string, unknown>;
  readonly properties: MessageProperties;
}

export interface TestQueue {
  readonly received: ReceivedEvent[];
  /** Deletes the exchange (if `deleteExchange`), the queue, and closes the connection. */
  close(): Promise<void>;
}

/**
 * Declares `exchange` (durable topic, as the sink does) and an exclusive auto-delete queue bound
 * with `patterns`, and collects every message it receives, in arrival order.
 */
export async function openTestQueue(exchange: string, patterns: readonly string[]): Promise<TestQueue> {
  const model: ChannelModel = await connect(RABBITMQ_TEST_URL);
  const channel: Channel = await model.createChannel();
  await channel.assertExchange(exchange, "topic", { durable: true });
  const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true, durable: false });
  for (const pattern of patterns) await channel.bindQueue(queue, exchange, pattern);
  const received: ReceivedEvent[] = [];
  await channel.consume(
    queue,
    (msg) => {
      if (!msg) return;
      const body: unknown = JSON.parse(msg.content.toString("utf8"));
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new Error(`event body is not a JSON object: ${msg.content.toString("utf8")}`);
      }
      received.push({
        routingKey: msg.fields.routingKey,
        body: body as Record<string, unknown>,
        properties: msg.properties,
      });
    },
    { noAck: true },
  );
  return {
    received,
    async close(): Promise<void> {
      await channel.deleteQueue(queue);
      await channel.deleteExchange(exchange);
      await model.close();
    },
  };
}

/** A logger writing JSON lines into `lines`, for asserting on log output. */
export function capturingLogger(level = "debug"): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { log: newLogger({ level, pretty: false, destination }), lines };
}
