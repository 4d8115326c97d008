import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { RtpHeader } from "werift";
import { srtpProtectorFor } from "../../src/media/werift/compat.ts";
import { RocState } from "../../src/media/werift/srtp-context.ts";
import type { Metrics } from "../../src/metrics/metrics.ts";
import type { TestPublisher } from "../helpers/werift-room.ts";
import { TestRoom, waitFor } from "../helpers/werift-room.ts";

/**
 * The receive side of the own media path (MEDIA_RECEIVE=own, the default): the server decrypts a
 * real werift publisher's SRTP (and every connection's SRTCP: the listener's receiver reports and
 * PLIs reach the publisher) with its own unprotectors (keys from the DTLS handshake), forwards it,
 * and drops and counts what fails authentication or is replayed (werift dropped those uncounted).
 * MEDIA_RECEIVE=werift keeps werift's sessions.
 */
async function labelled(
  metrics: Metrics,
  name: "mediaIngress" | "srtpRejected" | "rtpPacketsInOwnRoute" | "rtpPacketsIn",
): Promise<Record<string, number>> {
  const m = await metrics[name].get();
  return Object.fromEntries(
    m.values.map((v) => {
      const labels = v.labels as Record<string, unknown>;
      return [String(labels.path ?? labels.reason ?? labels.kind ?? "total"), v.value];
    }),
  );
}

/** Polls an asynchronous condition (metrics are read asynchronously). */
async function until(reason: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${reason}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function total(metrics: Metrics, name: "rtpPacketsInOwnRoute" | "rtpPacketsIn"): Promise<number> {
  return Object.values(await labelled(metrics, name)).reduce((a, b) => a + b, 0);
}

/**
 * Drops the first transmission of every `nth` video packet (payload type 96) on the publisher's
 * side, before SRTP: the server must NACK it, and the publisher's retransmission passes.
 */
function dropUplink(pub: TestPublisher, nth: number): { dropped: number; resent: number } {
  const counts = { dropped: 0, resent: 0 };
  const transport = pub.pc.getTransceivers().find((t) => t.kind === "video")?.sender.dtlsTransport;
  assert.ok(transport);
  const send = transport.sendRtp.bind(transport);
  const seen = new Set<number>();
  transport.sendRtp = (payload: Buffer, header: RtpHeader) => {
    if (header.payloadType === 96) {
      const seq = header.sequenceNumber;
      if (seen.has(seq)) counts.resent++;
      else {
        seen.add(seq);
        if (seq % nth === 0) {
          counts.dropped++;
          return Promise.resolve(0);
        }
      }
    } else if (header.payloadType !== 111) counts.resent++;
    return send(payload, header);
  };
  return counts;
}

/** Sends raw datagrams on the publisher's selected candidate pair, as its SRTP would go. */
function sendRaw(pub: TestPublisher, datagram: Buffer): Promise<void> {
  const transport = pub.pc.getTransceivers()[0]?.sender.dtlsTransport;
  assert.ok(transport);
  return transport.iceTransport.connection.send(datagram);
}

/** One SRTP packet protected with the publisher connection's own keys, on an SSRC no track uses. */
function publisherSrtp(pub: TestPublisher, seq: number): Buffer {
  const transport = pub.pc.getTransceivers()[0]?.sender.dtlsTransport;
  assert.ok(transport);
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: 1, ssrc: 0x7e57 });
  return transport.srtp.encrypt(Buffer.alloc(100, 0x42), header);
}

describe("media plane: own SRTP receive", () => {
  const rooms: TestRoom[] = [];
  after(async () => {
    await Promise.all(rooms.map((r) => r.close()));
  });

  it("decrypts the publisher's packets itself, and counts forged and replayed ones it drops", async () => {
    const room = new TestRoom("room-own-receive");
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    const bob = await room.receiving("bob", "alice", 40);
    assert.deepEqual(
      await labelled(room.metrics, "mediaIngress"),
      { own: 2 },
      "the publisher's and bob's connection (its listeners' RTCP)",
    );
    assert.ok(
      bob.video.every((p) => p.size === 1000),
      "every forwarded video payload has the size the publisher sent",
    );

    const valid = publisherSrtp(pub, 500);
    await sendRaw(pub, valid);
    await sendRaw(pub, Buffer.from(valid));
    const forged = publisherSrtp(pub, 501);
    forged[30] = (forged[30] as number) ^ 0xff;
    await sendRaw(pub, forged);
    await until(
      "one replay and one authentication failure counted",
      async () => {
        const r = await labelled(room.metrics, "srtpRejected");
        return r.replay === 1 && r.auth === 1;
      },
      5000,
    );
    const before = bob.video.length;
    await waitFor("video still flows", () => bob.video.length >= before + 20, 5000);

    await room.leave("alice");
    await until(
      "ingress gauge back to 0",
      async () => (await labelled(room.metrics, "mediaIngress")).own === 0,
      5000,
    );
  });

  it("routes the publisher's RTP from the socket on, once werift has routed each stream once", async () => {
    const room = new TestRoom("room-own-ingress");
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    const bob = await room.receiving("bob", "alice", 100);
    const received = await total(room.metrics, "rtpPacketsIn");
    const routed = await total(room.metrics, "rtpPacketsInOwnRoute");
    // werift routes the first packet of each of the two streams (and any that came before the
    // connection was up); every later one is ours.
    assert.ok(routed > 0 && received - routed <= 10, `routed ${routed} of ${received}`);
    assert.ok(
      bob.video.every((p) => p.size === 1000),
      "payloads intact",
    );
    const seqs = bob.video.map((p) => p.seq);
    for (let i = 1; i < seqs.length; i++)
      assert.equal(seqs[i], ((seqs[i - 1] as number) + 1) & 0xffff, "continuous sequence numbers");

    // A forged packet on a routed stream is dropped and counted by the ingress itself.
    const transport = pub.pc.getTransceivers()[0]?.sender.dtlsTransport;
    assert.ok(transport);
    const ssrc = pub.pc.getTransceivers().find((t) => t.kind === "video")?.sender.ssrc;
    assert.ok(ssrc !== undefined);
    const forged = transport.srtp.encrypt(
      Buffer.alloc(100, 0x42),
      new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 1, ssrc }),
    );
    forged[40] = (forged[40] as number) ^ 0xff;
    await sendRaw(pub, forged);
    await until(
      "the forged packet counted",
      async () => {
        const r = await labelled(room.metrics, "srtpRejected");
        return (r.auth ?? 0) + (r.replay ?? 0) === 1;
      },
      5000,
    );
  });

  it("drops and counts a packet on a routed stream whose padding is longer than its payload (tag valid)", async () => {
    const room = new TestRoom("room-own-ingress-malformed");
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    const video = pub.pc.getTransceivers().find((t) => t.kind === "video")?.sender;
    assert.ok(video);
    const transport = video.dtlsTransport;
    // The publisher's sequence numbers and rollover counter as it sends (to protect a packet of ours).
    const roc = new RocState();
    let lastSeq = -1;
    const send = transport.sendRtp.bind(transport);
    transport.sendRtp = (payload: Buffer, header: RtpHeader) => {
      if (header.payloadType === 96) {
        lastSeq = header.sequenceNumber;
        roc.next(lastSeq);
      }
      return send(payload, header);
    };
    pub.start();
    const bob = await room.receiving("bob", "alice", 60);
    const protector = srtpProtectorFor(transport);
    assert.ok(typeof protector !== "string", String(protector));
    // P bit set, and a padding count (the payload's last byte) of 200 in a 24-byte payload.
    const header = Buffer.alloc(12);
    header[0] = 0xa0;
    header[1] = 96;
    const seq = (lastSeq + 3) & 0xffff;
    header.writeUInt16BE(seq, 2);
    header.writeUInt32BE(1234, 4);
    header.writeUInt32BE(video.ssrc, 8);
    const payload = Buffer.alloc(24, 0x42);
    payload[23] = 200;
    const datagram = protector.protect(header, 12, payload, video.ssrc, seq, roc.next(seq));
    await sendRaw(pub, datagram);
    await until(
      "the packet rejected by the unprotector's padding check and counted",
      async () => (await labelled(room.metrics, "srtpRejected")).auth === 1,
      5000,
    );
    const before = bob.video.length;
    await waitFor("video still flows", () => bob.video.length >= before + 20, 5000);
  });

  it("repairs the publisher's uplink loss: the server NACKs it, and the listener gets every packet", async () => {
    const room = new TestRoom("room-own-ingress-loss", { NACK_HISTORY_MS: "3000" });
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    const uplink = dropUplink(pub, 9);
    pub.start(4);
    const bob = await room.receiving("bob", "alice", 300);
    assert.ok(uplink.dropped >= 20, `dropped ${uplink.dropped}`);
    assert.ok(uplink.resent >= uplink.dropped - 5, `resent ${uplink.resent} of ${uplink.dropped}`);
    assert.ok((await total(room.metrics, "rtpPacketsInOwnRoute")) > 200, "on the own ingress");
    const seqs = new Set(bob.video.map((p) => p.seq));
    const first = bob.video[20]?.seq as number;
    const missing: number[] = [];
    for (let i = 0; i < 200; i++) if (!seqs.has((first + i) & 0xffff)) missing.push((first + i) & 0xffff);
    assert.deepEqual(missing, [], "every packet of the middle of the run reached bob");
  });

  it("MEDIA_RECEIVE=own-srtp decrypts with our unprotector but leaves routing to werift", async () => {
    const room = new TestRoom("room-own-srtp", { MEDIA_RECEIVE: "own-srtp" });
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    await room.receiving("bob", "alice", 40);
    assert.deepEqual(await labelled(room.metrics, "mediaIngress"), { own: 2 });
    assert.equal(await total(room.metrics, "rtpPacketsInOwnRoute"), 0);
  });

  it("MEDIA_RECEIVE=werift leaves the publisher's SRTP to werift", async () => {
    const room = new TestRoom("room-werift-receive", { MEDIA_RECEIVE: "werift" });
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    const bob = await room.receiving("bob", "alice", 40);
    assert.deepEqual(await labelled(room.metrics, "mediaIngress"), { werift: 2 });
    assert.ok(bob.video.every((p) => p.size === 1000));
    const valid = publisherSrtp(pub, 600);
    await sendRaw(pub, valid);
    await sendRaw(pub, Buffer.from(valid));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await labelled(room.metrics, "srtpRejected"), {}, "werift counts nothing");
  });
});
