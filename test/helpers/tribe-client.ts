/**
 * A client that behaves on the wire as the 2018 Tribe Android SDK does against an MCU server
 * (docs/protocol.md, "Older clients"): it trickles candidates and ends each gathering with
 * `{completed: true}`, answers every listener offer, re-sends its old answer to a second offer
 * for the same publisher, keeps sending to peers that have just left, re-joins instead of
 * reconnecting, and would quit the call on any reply that carries `e`. Media through werift peers.
 */
import { TestListener, TestPublisher } from "./werift-peers.ts";
import { TestClient, type WireMessage } from "./ws-client.ts";

export interface TribeJoin {
  /** The app's full join (all documented fields) or the older minimal `{roomId, bearer}`. */
  form: "android" | "minimal";
}

interface Sdp {
  type: "offer" | "answer";
  sdp: string;
}

export class TribeClient {
  readonly c: TestClient;
  readonly user: string;
  socketId = "";
  publisher: TestPublisher | undefined;
  readonly listeners = new Map<string, { listener: TestListener; answer: Sdp }>();
  /** Publishers from which a second offer arrived (the app cannot take re-offers). */
  readonly reoffered: string[] = [];
  /** Every reply that carried `e`: the real app would have quit the call on the first one. */
  readonly errors: WireMessage[] = [];

  private constructor(c: TestClient, user: string) {
    this.c = c;
    this.user = user;
    c.ws.on("message", (data) => {
      const m = JSON.parse(data.toString()) as WireMessage;
      if (m.e !== undefined) this.errors.push(m);
      void this.#onMessage(m);
    });
  }

  static async connect(url: string, user: string): Promise<TribeClient> {
    return new TribeClient(await TestClient.connect(url), user);
  }

  async join(roomId: string, o: TribeJoin): Promise<WireMessage> {
    const d =
      o.form === "minimal"
        ? { roomId, bearer: this.user }
        : {
            roomId,
            bearer: this.user,
            platform: "Android",
            deviceName: "Pixel",
            networkType: "wifi",
            version: "8.1.0",
            appVersion: "3.5.2",
            orientation: 0,
            camera: "front",
            maxVideoBitrate: 800_000,
            maxAudioBitrate: 64_000,
          };
    const reply = await this.c.request("join", d, 10_000);
    this.socketId = String(reply.d?.socketId ?? "");
    return reply;
  }

  /** Publishes synthetic VP8 + Opus: offer, its candidates one by one, then `{completed: true}`. */
  async publish(): Promise<void> {
    const publisher = new TestPublisher();
    this.publisher = publisher;
    const offer = await publisher.offer();
    this.c.send("exchangeSdp", { to: "publisher", sdp: offer });
    this.#trickle("publisher", offer.sdp);
  }

  /** What the app does when a candidate or answer is due for `to`: sends it, whatever became of `to`. */
  sendCandidate(to: string, candidate: Record<string, unknown>): void {
    this.c.send("exchangeCandidate", { to, candidate });
  }

  /** Video packets received from each publisher's listener connection. */
  videoFrom(socketId: string): number {
    return this.listeners.get(socketId)?.listener.video.length ?? 0;
  }

  async close(): Promise<void> {
    this.c.close();
    await this.publisher?.close();
    await Promise.all([...this.listeners.values()].map((l) => l.listener.pc.close()));
  }

  #trickle(to: string, sdp: string): void {
    const lines = sdp.split(/\r?\n/);
    let mid: string | undefined;
    let index = -1;
    for (const line of lines) {
      if (line.startsWith("m=")) index++;
      if (line.startsWith("a=mid:")) mid = line.slice(6);
      if (line.startsWith("a=candidate:"))
        this.sendCandidate(to, { candidate: line.slice(2), sdpMid: mid ?? null, sdpMLineIndex: index });
    }
    this.sendCandidate(to, { completed: true });
  }

  async #onMessage(m: WireMessage): Promise<void> {
    const d = m.d as
      | { from?: { socketId?: string }; sdp?: Sdp; candidate?: { candidate: string; sdpMid?: string } }
      | undefined;
    const from = d?.from?.socketId;
    if (m.a === "eventExchangeCandidate" && from && d?.candidate) {
      const pc = from === "publisher" ? this.publisher?.pc : this.listeners.get(from)?.listener.pc;
      await pc?.addIceCandidate(d.candidate).catch(() => undefined);
      return;
    }
    if (m.a !== "eventExchangeSdp" || !from || !d?.sdp) return;
    if (from === "publisher") {
      await this.publisher?.pc.setRemoteDescription(d.sdp);
      this.publisher?.start();
      return;
    }
    const existing = this.listeners.get(from);
    if (existing) {
      // The app's behaviour on a re-offer: its old answer again; that connection stays stuck.
      this.reoffered.push(from);
      this.c.send("exchangeSdp", { to: from, sdp: existing.answer });
      return;
    }
    const listener = new TestListener();
    const answer = await listener.answer(d.sdp as { type: "offer"; sdp: string });
    this.listeners.set(from, { listener, answer });
    this.c.send("exchangeSdp", { to: from, sdp: answer });
    this.#trickle(from, answer.sdp);
  }
}
