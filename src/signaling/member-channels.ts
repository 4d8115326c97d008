import { type ChannelLimits, type ChannelLink, MemberChannel } from "./member-channel.ts";

export interface MemberChannelsOptions extends ChannelLimits {
  /** How long a connected member's events stay replayable (heartbeat timeout + interval). */
  replayMaxAgeMs: number;
}

/**
 * Every member's channel by socketId, and the one sweep that keeps connected members' replay
 * buffers short (and forgets the channels of members who left).
 */
export class MemberChannels {
  readonly #channels = new Map<string, MemberChannel>();
  readonly #o: MemberChannelsOptions;
  readonly #pruner: NodeJS.Timeout;

  constructor(o: MemberChannelsOptions) {
    this.#o = o;
    this.#pruner = setInterval(() => this.#sweep(), Math.max(50, Math.floor(o.replayMaxAgeMs / 2)));
    this.#pruner.unref();
  }

  get size(): number {
    return this.#channels.size;
  }

  /** A channel for a joining member, writing to `link`. */
  open(socketId: string, link: ChannelLink, firstSeq = 0): MemberChannel {
    const channel = new MemberChannel(link, this.#o, firstSeq);
    this.#channels.set(socketId, channel);
    return channel;
  }

  get(socketId: string): MemberChannel | undefined {
    const channel = this.#channels.get(socketId);
    if (channel?.closed) {
      this.#channels.delete(socketId);
      return undefined;
    }
    return channel;
  }

  close(): void {
    clearInterval(this.#pruner);
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
  }

  #sweep(): void {
    const now = performance.now();
    for (const [socketId, channel] of this.#channels) {
      if (channel.closed) this.#channels.delete(socketId);
      else channel.prune(now, this.#o.replayMaxAgeMs);
    }
  }
}
