/**
 * TURN credentials against a real coturn (Debian's turnserver, started privately by the test on
 * 127.0.0.1 with use-auth-secret): the credentials a member gets in joinR and reconnectR open an
 * allocation over UDP, TCP and TLS; wrong and expired ones are refused with 401; coturn refuses
 * permissions for any peer but the test's own address (403); a server without TURN_URLS replies
 * exactly as before. No data is relayed anywhere: only STUN/TURN requests to coturn on loopback.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { turnCredential } from "../../src/auth/turn-credentials.ts";
import { type Coturn, coturnUnavailable, startCoturn } from "../helpers/coturn.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { tryAllocate } from "../helpers/turn-client.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

const skip = coturnUnavailable();

const iceOf = (d: Record<string, unknown> | undefined): IceServerWire | undefined =>
  (d?.iceServers as IceServerWire[] | undefined)?.[0];
const TTL = 600;

interface IceServerWire {
  urls: string[];
  username: string;
  credential: string;
}

describe("TURN credentials handed to members, checked by a real coturn", { skip }, () => {
  let coturn: Coturn;
  let server: TestServer;
  let plain: TestServer;
  const clients: TestClient[] = [];

  before(async () => {
    coturn = await startCoturn();
    server = await startTestServer({
      ROOM_MODE: "p2p",
      RECONNECT_GRACE_MS: "5000",
      TURN_URLS: [coturn.urls.udp, coturn.urls.tcp, coturn.urls.tls].join(","),
      TURN_SECRET: coturn.secret,
      TURN_TTL_SECONDS: String(TTL),
    });
    plain = await startTestServer({ ROOM_MODE: "p2p" });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
    await plain?.close();
    await coturn?.close();
  });
  const connect = async (url: string) => {
    const c = await TestClient.connect(url);
    clients.push(c);
    return c;
  };
  const allocate = (transport: "udp" | "tcp" | "tls", ice: IceServerWire, peers?: string[]) =>
    tryAllocate({
      transport,
      host: coturn.ip,
      port: transport === "tls" ? coturn.tlsPort : coturn.port,
      username: ice.username,
      password: ice.credential,
      ...(peers ? { peers } : {}),
    });

  it("joinR carries iceServers that coturn accepts over UDP, TCP and TLS", async () => {
    const alice = await connect(server.url);
    const before = Math.floor(Date.now() / 1000);
    const r = await alice.join("turn-room", "alice");
    assert.equal((r.d?.iceServers as unknown[] | undefined)?.length, 1);
    const ice = iceOf(r.d);
    assert.ok(ice);
    assert.deepEqual(ice.urls, [coturn.urls.udp, coturn.urls.tcp, coturn.urls.tls]);
    const [expiry, userId] = ice.username.split(":");
    assert.equal(userId, "alice");
    assert.ok(Number(expiry) >= before + TTL && Number(expiry) <= before + TTL + 2, `expiry ${expiry}`);
    for (const transport of ["udp", "tcp", "tls"] as const) {
      const result = await allocate(transport, ice);
      assert.equal(result.code, 0, `${transport}: ${result.code} ${result.reason}`);
      assert.equal(result.relayed?.address, "127.0.0.1");
    }
  });

  it("reconnectR carries fresh credentials", async () => {
    const bob = await connect(server.url);
    const joined = await bob.join("turn-room", "bob");
    const first = iceOf(joined.d);
    const socketId = String(joined.d?.socketId);
    await new Promise((r) => setTimeout(r, 1100)); // the expiry has a one-second resolution
    bob.drop();
    await waitFor("bob detached", () => server.rooms.member(socketId)?.connected === false);
    const again = await connect(server.url);
    const r = await again.request("reconnect", { socketId, bearer: "bob" });
    assert.equal(r.s, true);
    const ice = iceOf(r.d);
    assert.ok(ice && first);
    assert.match(ice.username, /^\d+:bob$/);
    assert.ok(Number(ice.username.split(":")[0]) > Number(first.username.split(":")[0]), "a later expiry");
    assert.notEqual(ice.credential, first.credential);
    assert.equal((await allocate("udp", ice)).code, 0);
  });

  it("coturn refuses a credential signed with another secret, or expired (401)", async () => {
    const wrong = turnCredential("not-the-coturn-secret", "mallory", TTL);
    const expired = turnCredential(coturn.secret, "alice", 60, Date.now() - 3_600_000);
    for (const transport of ["udp", "tcp", "tls"] as const) {
      for (const [name, c] of [
        ["wrong secret", wrong],
        ["expired", expired],
      ] as const) {
        const result = await allocate(transport, {
          urls: [],
          username: c.username,
          credential: c.credential,
        });
        assert.equal(result.code, 401, `${transport} ${name}: ${result.code} ${result.reason}`);
      }
    }
    // A valid credential whose userId part was changed no longer matches its password.
    const valid = turnCredential(coturn.secret, "alice", TTL);
    const forged = {
      urls: [],
      username: valid.username.replace("alice", "admin"),
      credential: valid.credential,
    };
    assert.equal((await allocate("udp", forged)).code, 401);
  });

  it("coturn relays only to the allowed address: any other peer is 403 (denied-peer-ip)", async () => {
    const ice = turnCredential(coturn.secret, "alice", TTL);
    // CreatePermission only: coturn answers without sending anything to these addresses.
    const result = await allocate("udp", { urls: [], username: ice.username, credential: ice.credential }, [
      "127.0.0.1",
      "127.0.0.2",
      "10.0.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "8.8.8.8",
    ]);
    assert.deepEqual(result.permissions, {
      "127.0.0.1": 0,
      "127.0.0.2": 403,
      "10.0.0.1": 403,
      "192.168.1.1": 403,
      "169.254.169.254": 403,
      "8.8.8.8": 403,
    });
  });

  it("without TURN_URLS, joinR and reconnectR have no iceServers field", async () => {
    const carol = await connect(plain.url);
    const r = await carol.join("plain-room", "carol");
    assert.equal("iceServers" in (r.d ?? {}), false);
    const socketId = String(r.d?.socketId);
    carol.drop();
    await waitFor("carol detached", () => plain.rooms.member(socketId)?.connected === false);
    const again = await connect(plain.url);
    const rr = await again.request("reconnect", { socketId, bearer: "carol" });
    assert.equal(rr.s, true);
    assert.equal("iceServers" in (rr.d ?? {}), false);
  });
});
