import {
  type ChannelModel,
  type ConfirmChannel,
  connect,
  IllegalOperationError,
  type SocketOptions,
} from "amqplib";
import { type RabbitmqConfig, redactUrl } from "../config/events-config.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { destroySocket } from "./amqplib-compat.ts";
import { type Backoff, newBackoff } from "./backoff.ts";
import { type EncodedEvent, encodeEvent } from "./event-envelope.ts";
import type { EventSink } from "./event-sink.ts";
import type { DomainEvent } from "./event-types.ts";
import { Outbox } from "./outbox.ts";

export interface RabbitmqSinkDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Uniform in [0, 1) for the reconnect jitter; injectable for tests. */
  readonly random?: () => number;
}

export interface RabbitmqSinkOptions extends RabbitmqConfig {
  readonly instanceId: string;
}

/** The sink's observable state, for readiness endpoints, logs and tests. */
export interface RabbitmqSinkStatus {
  readonly connected: boolean;
  readonly blocked: boolean;
  readonly outbox: number;
  readonly reconnectAttempts: number;
  readonly closed: boolean;
}

/** An open connection with its confirm channel; `gen` tells stale callbacks apart. */
interface Link {
  readonly gen: number;
  readonly model: ChannelModel;
  readonly channel: ConfirmChannel;
  blocked: boolean;
  waitingDrain: boolean;
  confirmedOnce: boolean;
}

const DROP_LOG_INTERVAL_MS = 10_000;
const CLOSE_CONNECTION_TIMEOUT_MS = 2_000;

/**
 * Publishes events to a durable topic exchange with publisher confirms (see docs/events.md).
 *
 * Every event enters a bounded, in-order outbox and leaves it only when the broker confirms
 * it. While the broker is unreachable, blocked or has nacked, events wait; on a new channel
 * every unconfirmed event is re-sent in the original order with the same messageId, so
 * delivery is at-least-once and consumers dedupe on messageId. `publish` never waits and
 * never throws. The connection is (re)opened in the background with exponential backoff.
 */
export class RabbitmqEventSink implements EventSink {
  readonly #options: RabbitmqSinkOptions;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #backoff: Backoff;
  readonly #outbox: Outbox<EncodedEvent>;
  readonly #socketOptions: SocketOptions;
  #link: Link | undefined;
  #gen = 0;
  #connecting: Promise<void> | undefined;
  /** The connection being set up by #open (not yet a link), so close() can abort it. */
  #opening: ChannelModel | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #flushWaiters = new Set<() => void>();
  #retiring = new Set<Promise<void>>();
  #stopping = false;
  #stopped = false;
  #closePromise: Promise<void> | undefined;
  #droppedUnlogged = 0;
  #lastDropLog = 0;

  constructor(options: RabbitmqSinkOptions, deps: RabbitmqSinkDeps) {
    this.#options = options;
    this.#log = deps.log.child({ component: "rabbitmq", url: redactUrl(options.url) });
    this.#metrics = deps.metrics;
    this.#backoff = newBackoff({
      minMs: options.reconnectMinMs,
      maxMs: options.reconnectMaxMs,
      ...(deps.random ? { random: deps.random } : {}),
    });
    this.#outbox = new Outbox(options.outboxMax);
    this.#socketOptions = {
      timeout: options.connectTimeoutMs,
      noDelay: true,
      keepAlive: true,
      clientProperties: { connection_name: `webrtcsignaling ${options.instanceId}` },
      ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
      ...(options.tls?.cert ? { cert: options.tls.cert } : {}),
      ...(options.tls?.key ? { key: options.tls.key } : {}),
    };
    this.#metrics.eventBusConnected.set(0);
    this.#metrics.eventsOutbox.set(0);
  }

  /** Starts connecting in the background; never throws, even if the broker is down. */
  start(): void {
    if (this.#stopping || this.#link || this.#connecting || this.#reconnectTimer) return;
    this.#connectNow();
  }

  get ready(): boolean {
    return this.#link !== undefined && !this.#link.blocked;
  }

  get status(): RabbitmqSinkStatus {
    return {
      connected: this.#link !== undefined,
      blocked: this.#link?.blocked ?? false,
      outbox: this.#outbox.size,
      reconnectAttempts: this.#backoff.attempts,
      closed: this.#stopped,
    };
  }

  publish(event: DomainEvent): void {
    if (this.#stopped) {
      this.#metrics.eventsDropped.inc();
      this.#log.warn({ event: event.key }, "event published after the sink was closed: dropped");
      return;
    }
    let encoded: EncodedEvent;
    try {
      encoded = encodeEvent(event, this.#options.instanceId);
    } catch (err) {
      this.#metrics.eventsDropped.inc();
      this.#log.error({ err, event: event.key }, "event cannot be encoded: dropped");
      return;
    }
    const { evicted } = this.#outbox.push(encoded);
    if (evicted) this.#countDropped(evicted);
    this.#metrics.eventsOutbox.set(this.#outbox.size);
    this.#pump();
  }

  /**
   * Waits (bounded by flushTimeoutMs and `signal`) until every event is confirmed, then closes
   * the channel and the connection. Events still unconfirmed are logged and counted as dropped.
   * Idempotent.
   */
  close(signal?: AbortSignal): Promise<void> {
    this.#closePromise ??= this.#close(signal);
    return this.#closePromise;
  }

  async #close(signal?: AbortSignal): Promise<void> {
    this.#stopping = true;
    if (this.#outbox.size > 0) await this.#waitFlushed(signal);
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#connecting) {
      const settled = await withTimeout(this.#connecting, this.#options.connectTimeoutMs);
      if (!settled && this.#opening) destroySocket(this.#opening);
    }
    const link = this.#link;
    this.#link = undefined;
    this.#metrics.eventBusConnected.set(0);
    // Past the caller's deadline, a broker that does not answer the close gets little time.
    if (link) await closeModel(link.model, signal?.aborted ? 100 : CLOSE_CONNECTION_TIMEOUT_MS);
    await Promise.all(this.#retiring);
    this.#flushDropLog();
    const lost = this.#outbox.drain();
    this.#metrics.eventsOutbox.set(0);
    if (lost.length > 0) {
      this.#metrics.eventsDropped.inc(lost.length);
      this.#log.error(
        { lost: lost.length, firstMessageId: lost[0]?.messageId },
        "event sink closed with unconfirmed events: they are lost",
      );
    } else {
      this.#log.info("event sink closed, every event confirmed");
    }
  }

  #waitFlushed(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#flushWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.#options.flushTimeoutMs);
      if (signal?.aborted) return done();
      signal?.addEventListener("abort", done, { once: true });
      this.#flushWaiters.add(done);
    });
  }

  // --- connection lifecycle -------------------------------------------------------------

  #connectNow(): void {
    this.#reconnectTimer = undefined;
    this.#connecting = this.#open().finally(() => {
      this.#connecting = undefined;
    });
  }

  async #open(): Promise<void> {
    let model: ChannelModel | undefined;
    try {
      model = await connect(this.#options.url, this.#socketOptions);
      if (this.#stopped) {
        await closeModel(model, CLOSE_CONNECTION_TIMEOUT_MS);
        return;
      }
      this.#opening = model;
      const gen = ++this.#gen;
      model.on("error", (err: Error) => this.#log.warn({ err }, "broker connection error"));
      model.on("close", (err?: Error) => this.#lost(gen, "connection closed", err));
      model.on("blocked", (reason: string) => this.#onBlocked(gen, reason));
      model.on("unblocked", () => this.#onUnblocked(gen));
      const channel = await this.#setUpChannel(model, gen);
      if (this.#stopped || gen !== this.#gen) {
        await closeModel(model, CLOSE_CONNECTION_TIMEOUT_MS);
        return;
      }
      this.#link = { gen, model, channel, blocked: false, waitingDrain: false, confirmedOnce: false };
      this.#outbox.rewind();
      this.#metrics.eventBusConnected.set(1);
      this.#log.info(
        { exchange: this.#options.exchange, outbox: this.#outbox.size, attempts: this.#backoff.attempts },
        "event bus connected",
      );
      if (this.#outbox.size === 0) this.#backoff.reset();
      this.#flushDropLog();
      this.#pump();
    } catch (err) {
      if (model) await closeModel(model, CLOSE_CONNECTION_TIMEOUT_MS);
      this.#scheduleReconnect(err);
    } finally {
      this.#opening = undefined;
    }
  }

  /** Opens the confirm channel and declares the exchange; a broker that does not answer is cut off. */
  async #setUpChannel(model: ChannelModel, gen: number): Promise<ConfirmChannel> {
    const setup = (async () => {
      const channel = await model.createConfirmChannel();
      channel.on("error", (err: Error) => this.#log.warn({ err }, "broker channel error"));
      channel.on("close", () => this.#lost(gen, "channel closed"));
      await channel.assertExchange(this.#options.exchange, "topic", { durable: true });
      return channel;
    })();
    if (!(await withTimeout(setup, this.#options.connectTimeoutMs))) {
      destroySocket(model);
      setup.catch(() => {});
      throw new Error(`channel setup timed out after ${this.#options.connectTimeoutMs} ms`);
    }
    return setup;
  }

  /** The link of generation `gen` is gone (connection or channel closed, nack): start over. */
  #lost(gen: number, reason: string, err?: unknown): void {
    const link = this.#link;
    if (!link || link.gen !== gen) return;
    this.#link = undefined;
    this.#gen++;
    this.#outbox.rewind();
    this.#metrics.eventBusConnected.set(0);
    if (this.#stopped) return;
    this.#log.warn({ err, reason, outbox: this.#outbox.size }, "event bus connection lost");
    this.#retire(link.model);
    this.#scheduleReconnect(undefined);
  }

  /**
   * Closes a lost link's connection in the background; close() waits for it. Deferred one turn:
   * a channel's close is emitted before its connection finishes closing, and closing a closed
   * connection returns at once, where closing a closing one would wait for the timeout.
   */
  #retire(model: ChannelModel): void {
    const retired = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      closeModel(model, CLOSE_CONNECTION_TIMEOUT_MS),
    );
    this.#retiring.add(retired);
    void retired.finally(() => this.#retiring.delete(retired));
  }

  #scheduleReconnect(err: unknown): void {
    if (this.#stopped || this.#reconnectTimer) return;
    const delayMs = this.#backoff.next();
    if (err !== undefined) {
      this.#log.warn(
        { err, delayMs, attempt: this.#backoff.attempts, outbox: this.#outbox.size },
        "event bus unreachable, retrying",
      );
    }
    this.#reconnectTimer = setTimeout(() => this.#connectNow(), delayMs);
    this.#reconnectTimer.unref();
  }

  #onBlocked(gen: number, reason: string): void {
    if (this.#link?.gen !== gen) return;
    this.#link.blocked = true;
    this.#log.warn({ reason, outbox: this.#outbox.size }, "broker blocked publishing; events wait");
  }

  #onUnblocked(gen: number): void {
    if (this.#link?.gen !== gen) return;
    this.#link.blocked = false;
    this.#log.info({ outbox: this.#outbox.size }, "broker unblocked publishing");
    this.#pump();
  }

  // --- publishing -----------------------------------------------------------------------

  /** Writes every unsent event to the channel while it accepts writes. */
  #pump(): void {
    const link = this.#link;
    if (!link || link.blocked || link.waitingDrain) return;
    for (;;) {
      const next = this.#outbox.takeUnsent();
      if (!next) return;
      const { seq, item } = next;
      let writable: boolean;
      try {
        writable = link.channel.publish(this.#options.exchange, item.key, item.content, item.options, (err) =>
          this.#onConfirm(link, seq, err),
        );
      } catch (err) {
        this.#metrics.eventsFailed.inc();
        if (err instanceof IllegalOperationError) {
          this.#lost(link.gen, "publish on a closed channel", err);
          return;
        }
        // Not the channel: this event can never be published. Drop it rather than loop.
        this.#outbox.confirm(seq);
        this.#metrics.eventsDropped.inc();
        this.#metrics.eventsOutbox.set(this.#outbox.size);
        this.#log.error(
          { err, event: item.key, messageId: item.messageId },
          "event cannot be published: dropped",
        );
        continue;
      }
      this.#metrics.eventsPublished.inc({ key: item.key });
      if (!writable) {
        link.waitingDrain = true;
        link.channel.once("drain", () => {
          link.waitingDrain = false;
          if (this.#link === link) this.#pump();
        });
        return;
      }
    }
  }

  #onConfirm(link: Link, seq: number, err: unknown): void {
    if (err) {
      this.#metrics.eventsFailed.inc();
      // A nack (or the channel closing): resend everything unconfirmed, in order, on a new link.
      if (this.#link === link) {
        this.#log.warn(
          { err },
          "event not confirmed (nack or channel closed); resending on a new connection",
        );
        this.#lost(link.gen, "nack", err);
      }
      return;
    }
    if (this.#outbox.confirm(seq)) this.#metrics.eventsConfirmed.inc();
    if (!link.confirmedOnce) {
      link.confirmedOnce = true;
      this.#backoff.reset();
    }
    this.#metrics.eventsOutbox.set(this.#outbox.size);
    if (this.#outbox.size === 0) for (const waiter of [...this.#flushWaiters]) waiter();
  }

  #countDropped(evicted: EncodedEvent): void {
    this.#metrics.eventsDropped.inc();
    this.#droppedUnlogged++;
    const now = Date.now();
    if (now - this.#lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.#lastDropLog = now;
      this.#log.warn(
        { dropped: this.#droppedUnlogged, outboxMax: this.#outbox.max, oldestMessageId: evicted.messageId },
        "event outbox full: oldest events dropped",
      );
      this.#droppedUnlogged = 0;
    }
  }

  #flushDropLog(): void {
    if (this.#droppedUnlogged === 0) return;
    this.#log.warn({ dropped: this.#droppedUnlogged }, "event outbox full: oldest events dropped");
    this.#droppedUnlogged = 0;
    this.#lastDropLog = Date.now();
  }
}

/** Resolves true when `promise` settles within `ms`, false otherwise; never rejects. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a connection, bounded: a broker that never answers gets its socket destroyed. */
async function closeModel(model: ChannelModel, timeoutMs: number): Promise<void> {
  if (!(await withTimeout(model.close(), timeoutMs))) destroySocket(model);
}

/** Creates the sink and starts connecting in the background. */
export function newRabbitmqEventSink(
  options: RabbitmqSinkOptions,
  deps: RabbitmqSinkDeps,
): RabbitmqEventSink {
  const sink = new RabbitmqEventSink(options, deps);
  sink.start();
  return sink;
}
