import { backoffDelay, sleep } from "./backoff.ts";
import type { ClientEvents, ClientState, MemberGone } from "./client-events.ts";
import { Emitter } from "./emitter.ts";
import { IceConfig, type IceOptions } from "./ice-config.ts";
import { ListenerConnection } from "./listener-connection.ts";
import { toMediaConstraints } from "./media-constraints.ts";
import type { PeerSignals } from "./peer-signals.ts";
import {
  ErrorCode,
  type JoinInfo,
  type JoinReply,
  type MemberRef,
  PUBLISHER,
  type ReconnectReply,
  type SdpInit,
  type ServerEvent,
  SignalingError,
  type UserMediaConfiguration,
} from "./protocol.ts";
import { PublisherConnection } from "./publisher-connection.ts";
import { RemoteMember, type RemoteMemberInfo } from "./remote-member.ts";
import { SignalingChannel } from "./signaling-channel.ts";
import {
  type SimulcastOptions,
  simulcastEncodingsFor,
  VideoQualityWatcher,
  type VideoQualityWish,
} from "./video-quality.ts";

export interface ClientOptions extends IceOptions {
  /** WebSocket URL of the server's `/api`; default: `/api` on the page's own host. */
  url?: string;
  /** A JWT, or in development mode (server without a token key) the userId itself. */
  bearer: string;
  /** What the client tells about itself in `join`; sensible browser defaults otherwise. */
  info?: Partial<JoinInfo>;
  /**
   * Passed to every RTCPeerConnection; default `{iceServers: []}` (the server announces its own
   * address). The TURN servers the server hands out (joinR, reconnectR) are added to its iceServers.
   */
  rtcConfiguration?: RTCConfiguration;
  /** How long a request waits for its reply; default 10 s. */
  requestTimeoutMs?: number;
  /**
   * Publish the camera as simulcast (VP8 layers the server picks from per listener); default: as
   * many layers (up to 3) as the camera's height allows (540 px for 3, 270 px for 2). `false`: one
   * encoding. See docs/web-client.md, "Simulcast".
   */
  simulcast?: boolean | SimulcastOptions;
  reconnect?: {
    /** Reconnect automatically after a socket drop; default true. */
    enabled?: boolean;
    /** First delay; doubles per attempt up to maxDelayMs. Defaults 250 ms and 5 s. */
    minDelayMs?: number;
    maxDelayMs?: number;
    /** When the server no longer knows the socketId (grace expired): join again and re-publish. Default true. */
    rejoin?: boolean;
  };
}

/**
 * A browser client of the webrtcsignaling server in an MCU room: joins a room, publishes a
 * camera/microphone stream to the server, and receives one connection per other publisher.
 * Reconnects with `reconnect` after a socket drop, keeping its media connections.
 */
export class WebrtcSignalingClient extends Emitter<ClientEvents> {
  readonly #url: string;
  readonly #bearer: string;
  readonly #info: JoinInfo;
  readonly #ice: IceConfig;
  readonly #timeoutMs: number;
  readonly #reconnect: { enabled: boolean; minDelayMs: number; maxDelayMs: number; rejoin: boolean };
  /** The last event number read: a reconnect resumes exactly after it. */
  #lastSeq = 0;
  readonly #members = new Map<string, RemoteMember>();
  #channel: SignalingChannel | undefined;
  #state: ClientState = "idle";
  #roomId: string | undefined;
  #self: MemberRef | undefined;
  #publisher: PublisherConnection | undefined;
  #publishUp = false;
  #leaving = false;
  readonly #simulcast: boolean | SimulcastOptions | undefined;
  /** Sends setVideoQuality for the video elements given to watchVideo. */
  readonly #quality = new VideoQualityWatcher((to, wish) => this.setVideoQuality(to, wish));

  constructor(options: ClientOptions) {
    super();
    this.#url = options.url ?? defaultUrl();
    this.#bearer = options.bearer;
    this.#info = { ...defaultInfo(), ...options.info };
    this.#ice = new IceConfig(options, {
      iceServerError: (info) => this.emit("iceServerError", info),
      mediaUnreachable: (info) => this.emit("mediaUnreachable", info),
    });
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#simulcast = options.simulcast;
    // A re-join starts new listener connections on the server: tell it again what each tile shows.
    this.on("reconnected", (e) => {
      if (e.rejoined) this.#quality.resend();
    });
    this.#reconnect = {
      enabled: options.reconnect?.enabled ?? true,
      minDelayMs: options.reconnect?.minDelayMs ?? 250,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 5000,
      rejoin: options.reconnect?.rejoin ?? true,
    };
  }

  get state(): ClientState {
    return this.#state;
  }

  /** This member's socketId (kept across reconnects, new after a re-join). */
  get socketId(): string | undefined {
    return this.#self?.socketId;
  }

  get userId(): string | undefined {
    return this.#self?.userId;
  }

  get roomId(): string | undefined {
    return this.#roomId;
  }

  /** The other members, in the order they became known. */
  members(): RemoteMemberInfo[] {
    return [...this.#members.values()].map((m) => m.info());
  }

  member(socketId: string): RemoteMemberInfo | undefined {
    return this.#members.get(socketId)?.info();
  }

  /** The receiving connection for a remote publisher (for getStats), if there is one. */
  listenerConnection(socketId: string): RTCPeerConnection | undefined {
    return this.#members.get(socketId)?.listener?.pc;
  }

  /** Every open connection: the publishing one and one per remote publisher. */
  #peerConnections(): RTCPeerConnection[] {
    const listeners = [...this.#members.values()].flatMap((m) => (m.listener ? [m.listener.pc] : []));
    return this.#publisher ? [this.#publisher.pc, ...listeners] : listeners;
  }

  /** This client's publishing connection (for getStats), once publish() was called. */
  get publisherConnection(): RTCPeerConnection | undefined {
    return this.#publisher?.pc;
  }

  /** Connects and joins `roomId`. Resolves with joinR's data; rejects with SignalingError (e.g. 1316 room full). */
  async join(roomId: string): Promise<JoinReply> {
    if (this.#state !== "idle" && this.#state !== "closed")
      throw new Error(`cannot join while ${this.#state}`);
    this.#leaving = false;
    this.#roomId = roomId;
    this.#setState("connecting");
    try {
      const channel = await this.#open();
      if (this.#leaving) throw new SignalingError("join", 0, "Left while connecting.");
      this.#channel = channel;
      const reply = await channel.request<JoinReply>("join", this.#joinData(), this.#timeoutMs);
      this.#afterJoin(reply);
      return reply;
    } catch (err) {
      this.#channel?.close();
      this.#channel = undefined;
      if (!this.#leaving) this.#setState("closed");
      throw err;
    }
  }

  /**
   * Sends `stream` (its audio and video tracks) to the server. Resolves when the server's answer
   * is applied; `publishState` tells when media is up. Called again, it sends the new stream's
   * tracks and renegotiates.
   */
  async publish(stream: MediaStream): Promise<void> {
    if (this.#state !== "joined") throw new Error(`cannot publish while ${this.#state}`);
    if (this.#publisher) {
      await this.#publisher.replaceStream(stream);
      await this.#publisher.negotiate(this.#timeoutMs);
      return;
    }
    const publisher = new PublisherConnection(
      stream,
      this.#rtc,
      this.#signals(PUBLISHER),
      {
        state: (state) => {
          if (this.#publisher !== publisher) return;
          // "disconnected" is transient (no packets for a few seconds: a starved server, a network
          // hiccup): the server's connection is still up and says nothing new when it comes back.
          if (state === "failed" || state === "closed") this.#publishUp = false;
          this.emit("publishState", { state, up: this.#publishUp });
          if (state === "failed") void this.#republish(publisher);
        },
      },
      (track) => simulcastEncodingsFor(this.#simulcast, track),
    );
    this.#publisher = publisher;
    this.#ice.watch(publisher.pc, PUBLISHER);
    this.#publishUp = false;
    await publisher.negotiate(this.#timeoutMs);
  }

  /**
   * The publishing connection failed (network change, or the server lost its media session):
   * publish the same stream again on a new connection; listeners keep their streams.
   */
  async #republish(failed: PublisherConnection): Promise<void> {
    if (this.#publisher !== failed || this.#state !== "joined") return;
    failed.close();
    this.#publisher = undefined;
    try {
      await this.publish(failed.stream);
    } catch (err) {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Offers again on the publishing connection (after changing capture settings, for instance). */
  async renegotiate(): Promise<void> {
    if (!this.#publisher) throw new Error("not publishing");
    await this.#publisher.negotiate(this.#timeoutMs);
  }

  /**
   * What this member wants of publisher `to`'s video (server: setVideoQuality): `maxHeight` (the
   * height it is shown at), `maxLayer`, `paused`. Matters for simulcast publishers.
   */
  async setVideoQuality(to: string, wish: VideoQualityWish): Promise<void> {
    await this.#request("setVideoQuality", { to, ...wish });
  }

  /**
   * Keeps the server told what `element` (the video of publisher `to`) needs: its height in device
   * pixels, paused while it is not visible. Returns the function that stops watching.
   */
  watchVideo(to: string, element: HTMLElement): () => void {
    return this.#quality.watch(to, element);
  }

  /** Sends an application message to another member (eventMessage on its side). */
  async sendMessage(to: string, message: unknown): Promise<void> {
    await this.#request("sendMessage", { to, message });
  }

  /** Client events the server forwards to its event bus. */
  notify(
    action: "eventFreeze" | "eventCpu" | "eventNetworkChange",
    data?: { cpuUsed: number } | { networkType: string },
  ): void {
    this.#channel?.notify(action, data);
  }

  /** Leaves the room at once: closes every connection and the socket (the others get eventLeave). */
  leave(): void {
    this.#leaving = true;
    this.#closeMedia("closed");
    this.#channel?.close(1000, "leave");
    this.#channel = undefined;
    this.#setState("closed");
  }

  /**
   * Testing aid: closes the socket as a network drop would (the server keeps the membership for
   * its reconnect grace), so that the automatic reconnect runs.
   */
  simulateDrop(): void {
    const channel = this.#channel;
    if (!channel) return;
    channel.close(4100, "simulated drop");
    this.#onClosed(channel, 4100);
  }

  #joinData() {
    // "reoffer": this client replaces a listener connection when offered a new one for the same publisher.
    return { ...this.#info, roomId: this.#roomId, bearer: this.#bearer, capabilities: ["reoffer"] };
  }

  #afterJoin(reply: JoinReply): void {
    this.#self = { socketId: reply.socketId, userId: reply.userId };
    this.#lastSeq = 0;
    this.#ice.update(reply.iceServers);
    this.#setState("joined");
    this.emit("joined", reply);
    this.#emitUserMedia(reply.userMediaConfiguration);
    for (const s of reply.sessions) this.#addMember(s);
  }

  /** ICE settings for a new connection: the TURN servers of the last joinR / reconnectR included. */
  get #rtc(): RTCConfiguration {
    return this.#ice.configuration();
  }

  async #open(): Promise<SignalingChannel> {
    let self: SignalingChannel | undefined;
    self = await SignalingChannel.open(
      this.#url,
      {
        event: (message) => {
          if (self === this.#channel) this.#onEvent(message);
        },
        closed: (code, _reason, byUs) => {
          if (!byUs && self) this.#onClosed(self, code);
        },
      },
      this.#timeoutMs,
    );
    return self;
  }

  #request<T>(action: string, data: unknown): Promise<T> {
    const channel = this.#channel;
    if (!channel?.isOpen) return Promise.reject(new SignalingError(action, 0, undefined, "closed"));
    return channel.request<T>(action, data, this.#timeoutMs);
  }

  #signals(target: string): PeerSignals {
    return {
      sendSdp: (sdp: SdpInit) => this.#request<void>("exchangeSdp", { to: target, sdp }),
      sendCandidate: (candidate) => {
        this.#request("exchangeCandidate", { to: target, candidate }).catch((err: unknown) => {
          // Candidates lost while the socket is down or after the target left do not matter.
          if (err instanceof SignalingError && (err.code === 0 || err.code === ErrorCode.noSuchTarget))
            return;
          this.#error(err);
        });
      },
      error: (err) => this.#error(err),
    };
  }

  #onEvent(message: ServerEvent): void {
    if (typeof message.n === "number" && message.n > this.#lastSeq) this.#lastSeq = message.n;
    switch (message.a) {
      case "eventExchangeSdp": {
        const { from, sdp } = message.d;
        if (from.socketId === PUBLISHER) void this.#publisher?.acceptAnswer(sdp);
        else this.#onOffer(from, sdp);
        return;
      }
      case "eventExchangeCandidate": {
        const { from, candidate } = message.d;
        if (from.socketId === PUBLISHER) this.#publisher?.addRemoteCandidate(candidate);
        else this.#members.get(from.socketId)?.listener?.addRemoteCandidate(candidate);
        return;
      }
      case "eventWebrtcUp": {
        const { from } = message.d;
        if (from.socketId === PUBLISHER) {
          this.#publishUp = true;
          this.emit("publishState", { state: this.#publisher?.pc.connectionState ?? "new", up: true });
          return;
        }
        const m = this.#members.get(from.socketId);
        if (!m) return;
        m.up = true;
        this.emit("remoteState", m.info());
        return;
      }
      case "eventWebrtcDown": {
        const { from } = message.d;
        if (from.socketId === PUBLISHER && this.#publisher) void this.#republish(this.#publisher);
        return;
      }
      case "eventLeave": {
        const { socketId, userId, roomSize } = message.d;
        this.#removeMember(socketId, userId, roomSize, "left");
        return;
      }
      case "eventUserMediaConfiguration":
        this.#emitUserMedia(message.d);
        return;
      case "eventOrientationChange":
        this.#addMember(message.d.from);
        return;
      case "eventMessage":
        this.emit("message", message.d);
        return;
      case "eventFreeze":
      case "eventUnfreeze": {
        const frozen = message.a === "eventFreeze";
        const { from, durationMs } = message.d;
        const m = this.#members.get(from.socketId);
        if (m) m.frozen = frozen;
        this.emit("freeze", { from, frozen, ...(durationMs !== undefined ? { durationMs } : {}) });
        if (m) this.emit("remoteState", m.info());
        return;
      }
    }
  }

  /** An offer for the connection carrying `from`'s media: the same connection, or a new one. */
  #onOffer(from: MemberRef, sdp: SdpInit): void {
    const m = this.#addMember(from);
    if (!m.listener?.takes(sdp)) {
      m.listener?.close();
      const listener = this.#newListener(m);
      m.listener = listener;
      listener.takes(sdp);
      m.state = "new";
      m.up = false;
    }
    const listener = m.listener;
    if (!listener) return;
    m.chain = m.chain
      .then(() => (m.listener === listener ? listener.acceptOffer(sdp) : undefined))
      .catch((err: unknown) => {
        if (m.listener === listener) this.#error(err);
      });
  }

  #newListener(m: RemoteMember): ListenerConnection {
    const listener: ListenerConnection = new ListenerConnection(this.#rtc, this.#signals(m.socketId), {
      track: (stream) => {
        if (m.listener !== listener) return;
        this.emit("remoteStream", { ...m.info(), stream });
      },
      state: (state) => {
        if (m.listener !== listener) return;
        m.state = state;
        if (state === "failed" || state === "closed") m.up = false;
        this.emit("remoteState", m.info());
      },
    });
    this.#ice.watch(listener.pc, m.socketId);
    return listener;
  }

  #addMember(ref: MemberRef): RemoteMember {
    let m = this.#members.get(ref.socketId);
    if (m) {
      if (ref.userId) m.userId = ref.userId;
      return m;
    }
    m = new RemoteMember(ref);
    this.#members.set(ref.socketId, m);
    this.emit("memberJoined", m.info());
    return m;
  }

  #removeMember(socketId: string, userId: string, roomSize: number, why: MemberGone): void {
    const m = this.#members.get(socketId);
    if (!m) return;
    this.#members.delete(socketId);
    m.close();
    this.emit("memberLeft", { socketId, userId: userId || m.userId, roomSize, reason: why });
  }

  #emitUserMedia(configuration: UserMediaConfiguration): void {
    this.emit("userMediaConfiguration", { configuration, constraints: toMediaConstraints(configuration) });
  }

  #onClosed(channel: SignalingChannel, code: number): void {
    if (channel !== this.#channel || this.#leaving) return;
    this.#channel = undefined;
    if (!this.#self || this.#state !== "joined") return;
    // 4000: another socket took this membership over with `reconnect`.
    // 4001: the same user joined this room from another page or device (the newer join wins):
    // joining again from here would take it back and the two would push each other out.
    // 1008: closed for exceeding the rate limit; the server ended the membership.
    if (code === 4000 || code === 4001 || code === 1008 || !this.#reconnect.enabled) {
      this.#closeMedia("closed");
      this.#setState("closed");
      const reason =
        code === 4000
          ? "replaced"
          : code === 4001
            ? "superseded"
            : code === 1008
              ? "rate-limit-closed"
              : "closed";
      this.#error(new SignalingError("connection", 0, undefined, reason));
      return;
    }
    void this.#reconnectLoop();
  }

  async #reconnectLoop(): Promise<void> {
    this.#setState("reconnecting");
    let lastFailure: SignalingError | undefined;
    for (let attempt = 0; !this.#leaving; attempt++) {
      const delayMs = backoffDelay(attempt, this.#reconnect.minDelayMs, this.#reconnect.maxDelayMs);
      this.emit("reconnecting", {
        attempt: attempt + 1,
        delayMs,
        ...(lastFailure ? { error: lastFailure } : {}),
      });
      await sleep(delayMs);
      if (this.#leaving) return;
      let channel: SignalingChannel;
      try {
        channel = await this.#open();
      } catch (err) {
        lastFailure =
          err instanceof SignalingError ? err : new SignalingError("connect", 0, undefined, "unreachable");
        continue;
      }
      if (this.#leaving) {
        channel.close();
        return;
      }
      this.#channel = channel;
      try {
        const self = this.#self;
        if (!self) throw new Error("reconnect without a membership");
        const reply = await channel.request<ReconnectReply>(
          "reconnect",
          { socketId: self.socketId, bearer: this.#bearer, lastSeq: this.#lastSeq },
          this.#timeoutMs,
        );
        this.#ice.update(reply.iceServers, this.#peerConnections());
        this.#resync(reply);
        this.#setState("joined");
        this.emit("reconnected", { socketId: reply.socketId, attempts: attempt + 1, rejoined: false });
        return;
      } catch (err) {
        const expired =
          err instanceof SignalingError &&
          (err.code === ErrorCode.noSuchSocket || err.code === ErrorCode.noSuchRoom);
        if (expired && this.#reconnect.rejoin && channel.isOpen) {
          try {
            await this.#rejoin(channel);
            this.emit("reconnected", {
              socketId: this.#self?.socketId ?? "",
              attempts: attempt + 1,
              rejoined: true,
            });
            return;
          } catch (rejoinErr) {
            this.#error(rejoinErr);
          }
        } else if (expired) {
          this.#closeMedia("closed");
          this.#channel = undefined;
          channel.close();
          this.#setState("closed");
          this.#error(err);
          return;
        }
        if (this.#channel === channel) this.#channel = undefined;
        channel.close(4100, "retry");
      }
    }
  }

  /** After reconnectR: members that left or joined while the socket was down. */
  #resync(reply: ReconnectReply): void {
    const present = new Set(reply.sessions.map((s) => s.socketId));
    for (const m of [...this.#members.values()]) {
      if (!present.has(m.socketId)) this.#removeMember(m.socketId, m.userId, reply.roomSize, "left");
    }
    for (const s of reply.sessions) this.#addMember(s);
  }

  /** The server forgot this member: start over with a fresh join and publish the same stream again. */
  async #rejoin(channel: SignalingChannel): Promise<void> {
    const stream = this.#publisher?.stream;
    this.#closeMedia("rejoin");
    const reply = await channel.request<JoinReply>("join", this.#joinData(), this.#timeoutMs);
    this.#afterJoin(reply);
    if (stream) await this.publish(stream);
  }

  /** Closes every connection; `why` tells listeners of memberLeft that these members did not leave. */
  #closeMedia(why: MemberGone): void {
    this.#publisher?.close();
    this.#publisher = undefined;
    this.#publishUp = false;
    for (const m of [...this.#members.values()]) this.#removeMember(m.socketId, m.userId, 0, why);
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit("state", state);
  }

  #error(err: unknown): void {
    this.emit("error", err instanceof Error ? err : new Error(String(err)));
  }
}

function defaultUrl(): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/api`;
}

function defaultInfo(): JoinInfo {
  const connection = (navigator as Navigator & { connection?: { effectiveType?: string } }).connection;
  const angle = typeof screen !== "undefined" ? (screen.orientation?.angle ?? 0) : 0;
  return {
    platform: "web",
    deviceName: navigator.userAgent.slice(0, 128),
    networkType: (connection?.effectiveType ?? "unknown").slice(0, 32),
    version: "webrtcsignaling-web/0.1.0",
    appVersion: "0.1.0",
    orientation: Math.max(0, Math.min(359, Math.round(angle))),
    camera: "front",
  };
}
