import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { RtpHeader } from "werift";
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
  name: "mediaIngress" | "srtpRejected",
): Promise<Record<string, number>> {
  const m = await metrics[name].get();
  return Object.fromEntries(
    m.values.map((v) => {
      const labels = v.labels as Record<string, unknown>;
      return [String(labels.path ?? labels.reason), v.value];
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
