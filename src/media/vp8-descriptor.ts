/**
 * The VP8 RTP payload descriptor (RFC 7741 section 4.2) as a simulcast forwarder needs it: where the
 * picture ID and TL0PICIDX are, whether a packet starts a keyframe, and a keyframe's size. Pure,
 * per packet, nothing allocated: `parseVp8` fills a caller-owned `Vp8Info`.
 *
 *   byte 0: X R N S R PID(3)
 *   X:      I L T K RSV(4)
 *   I:      M PictureID(7) [PictureID low 8 bits when M]
 *   L:      TL0PICIDX(8)
 *   T|K:    TID(2) Y KEYIDX(5)
 * then, on the first packet of a frame (S=1, PID=0), the VP8 payload header: P (bit 0 of its first
 * byte) is 0 on keyframes, whose bytes 3-5 are the start code 9d 01 2a and 6-9 width and height
 * (14 bits each, little-endian, 2 scaling bits on top).
 */
export interface Vp8Info {
  /** Bytes of the payload descriptor (the VP8 payload starts there); 0 when the payload is too short. */
  descriptorSize: number;
  /** Picture ID, or -1 when absent. */
  pictureId: number;
  /** 7 or 15 (M bit), 0 when absent. */
  pictureIdBits: number;
  /** Offset of the picture ID's first byte in the payload. */
  pictureIdAt: number;
  /** TL0PICIDX, or -1 when absent. */
  tl0PicIdx: number;
  tl0PicIdxAt: number;
  /** First packet of a frame (S=1, partition 0). */
  frameStart: boolean;
  /** First packet of a keyframe. */
  keyframe: boolean;
  /** A keyframe's size from its header; 0 otherwise. */
  width: number;
  height: number;
}

export function newVp8Info(): Vp8Info {
  return {
    descriptorSize: 0,
    pictureId: -1,
    pictureIdBits: 0,
    pictureIdAt: 0,
    tl0PicIdx: -1,
    tl0PicIdxAt: 0,
    frameStart: false,
    keyframe: false,
    width: 0,
    height: 0,
  };
}

/** Parses the descriptor of `payload` into `out`; false (and descriptorSize 0) when it is truncated. */
export function parseVp8(payload: Uint8Array, out: Vp8Info): boolean {
  out.descriptorSize = 0;
  out.pictureId = -1;
  out.pictureIdBits = 0;
  out.tl0PicIdx = -1;
  out.frameStart = false;
  out.keyframe = false;
  out.width = 0;
  out.height = 0;
  const n = payload.length;
  if (n < 1) return false;
  const b0 = payload[0] as number;
  let i = 1;
  if (b0 & 0x80) {
    if (n < 2) return false;
    const x = payload[1] as number;
    i = 2;
    if (x & 0x80) {
      if (n < i + 1) return false;
      const p0 = payload[i] as number;
      out.pictureIdAt = i;
      if (p0 & 0x80) {
        if (n < i + 2) return false;
        out.pictureId = ((p0 & 0x7f) << 8) | (payload[i + 1] as number);
        out.pictureIdBits = 15;
        i += 2;
      } else {
        out.pictureId = p0 & 0x7f;
        out.pictureIdBits = 7;
        i += 1;
      }
    }
    if (x & 0x40) {
      if (n < i + 1) return false;
      out.tl0PicIdxAt = i;
      out.tl0PicIdx = payload[i] as number;
      i += 1;
    }
    if (x & 0x30) {
      if (n < i + 1) return false;
      i += 1;
    }
  }
  if (n < i) return false;
  out.descriptorSize = i;
  out.frameStart = (b0 & 0x10) !== 0 && (b0 & 0x07) === 0;
  if (out.frameStart && n > i && ((payload[i] as number) & 0x01) === 0) {
    out.keyframe = true;
    if (n >= i + 10 && payload[i + 3] === 0x9d && payload[i + 4] === 0x01 && payload[i + 5] === 0x2a) {
      out.width = ((payload[i + 6] as number) | ((payload[i + 7] as number) << 8)) & 0x3fff;
      out.height = ((payload[i + 8] as number) | ((payload[i + 9] as number) << 8)) & 0x3fff;
    }
  }
  return true;
}

const PICTURE_ID_MOD = 0x8000;
const TL0_MOD = 0x100;
/** Sources (layers) whose mapping is kept for retransmissions after a switch. */
const KEPT_SOURCES = 4;

/** True when a is newer than b modulo `mod` (serial-number arithmetic). */
function newer(a: number, b: number, mod: number): boolean {
  const d = (a - b + mod) % mod;
  return d !== 0 && d < mod / 2;
}

/**
 * Rewrites picture ID and TL0PICIDX of one forwarded VP8 stream so that they continue across a change
 * of source (a simulcast layer switch, always onto a keyframe): the first packet of a new source
 * continues right after the newest value sent (picture ID + 1, TL0PICIDX + 1), later ones keep that
 * offset. The mapping of the last few sources is kept for retransmissions sent after a switch.
 *
 * The rewrite is in place on the shared source payload and must be undone with `restore` right
 * after the packet was protected (synchronous, so no other listener sees the patched bytes):
 * `patch` saves the 3 bytes it changes, nothing is allocated.
 */
export class Vp8PictureRewriter {
  readonly #ssrcs = new Float64Array(KEPT_SOURCES).fill(-1);
  readonly #picOffsets = new Int32Array(KEPT_SOURCES);
  readonly #tl0Offsets = new Int32Array(KEPT_SOURCES);
  #next = 0;
  #current = -1;
  #lastPic = -1;
  #lastTl0 = -1;
  readonly #info = newVp8Info();
  /** Saved bytes of the last patch: position and value of up to three bytes. */
  #savedAt0 = -1;
  #saved0 = 0;
  #savedAt1 = -1;
  #saved1 = 0;
  #savedAt2 = -1;
  #saved2 = 0;

  /** The newest outgoing picture ID (-1 before the first). */
  get lastPictureId(): number {
    return this.#lastPic;
  }

  get lastTl0PicIdx(): number {
    return this.#lastTl0;
  }

  /**
   * The forwarder switched to `ssrc` (onto a keyframe): its next packet continues the numbering,
   * even if this source was forwarded before (A -> B -> A).
   */
  switchTo(ssrc: number): void {
    const slot = this.#slot(ssrc);
    if (slot >= 0) this.#ssrcs[slot] = -1;
  }

  /**
   * Rewrites `payload` in place for source `ssrc`; returns true when bytes were changed (then call
   * restore(payload) after use). A source not mapped takes over the numbering from this packet,
   * unless `resend` (a retransmission of a source no longer mapped is sent as it is).
   */
  patch(payload: Buffer, ssrc: number, resend = false): boolean {
    const info = this.#info;
    if (!parseVp8(payload, info) || (info.pictureId < 0 && info.tl0PicIdx < 0)) return false;
    let slot = this.#slot(ssrc);
    if (slot < 0) {
      if (resend) return false;
      slot = this.#newSource(ssrc, info);
    }
    let changed = false;
    this.#savedAt0 = -1;
    this.#savedAt1 = -1;
    this.#savedAt2 = -1;
    if (info.pictureId >= 0) {
      const mod = info.pictureIdBits === 7 ? 0x80 : PICTURE_ID_MOD;
      const out = (info.pictureId + (this.#picOffsets[slot] as number)) % mod;
      if (slot === this.#current && (this.#lastPic < 0 || newer(out, this.#lastPic, mod)))
        this.#lastPic = out;
      if (out !== info.pictureId) {
        const at = info.pictureIdAt;
        this.#savedAt0 = at;
        this.#saved0 = payload[at] as number;
        if (mod === PICTURE_ID_MOD) {
          this.#savedAt1 = at + 1;
          this.#saved1 = payload[at + 1] as number;
          payload[at] = 0x80 | (out >> 8);
          payload[at + 1] = out & 0xff;
        } else {
          payload[at] = out;
        }
        changed = true;
      }
    }
    if (info.tl0PicIdx >= 0) {
      const out = (info.tl0PicIdx + (this.#tl0Offsets[slot] as number)) % TL0_MOD;
      if (slot === this.#current && (this.#lastTl0 < 0 || newer(out, this.#lastTl0, TL0_MOD)))
        this.#lastTl0 = out;
      if (out !== info.tl0PicIdx) {
        const at = info.tl0PicIdxAt;
        this.#savedAt2 = at;
        this.#saved2 = payload[at] as number;
        payload[at] = out;
        changed = true;
      }
    }
    return changed;
  }

  /** Puts back the bytes the last `patch` changed. */
  restore(payload: Buffer): void {
    if (this.#savedAt0 >= 0) payload[this.#savedAt0] = this.#saved0;
    if (this.#savedAt1 >= 0) payload[this.#savedAt1] = this.#saved1;
    if (this.#savedAt2 >= 0) payload[this.#savedAt2] = this.#saved2;
    this.#savedAt0 = -1;
    this.#savedAt1 = -1;
    this.#savedAt2 = -1;
  }

  #slot(ssrc: number): number {
    const ssrcs = this.#ssrcs;
    for (let i = 0; i < KEPT_SOURCES; i++) if (ssrcs[i] === ssrc) return i;
    return -1;
  }

  /** The first source keeps its values; a later one continues after the newest values sent. */
  #newSource(ssrc: number, info: Vp8Info): number {
    const slot = this.#next;
    this.#next = (slot + 1) % KEPT_SOURCES;
    this.#ssrcs[slot] = ssrc;
    const first = this.#lastPic < 0 && this.#lastTl0 < 0;
    const mod = info.pictureIdBits === 7 ? 0x80 : PICTURE_ID_MOD;
    this.#picOffsets[slot] =
      first || info.pictureId < 0 ? 0 : (((this.#lastPic + 1 - info.pictureId) % mod) + mod) % mod;
    this.#tl0Offsets[slot] =
      first || info.tl0PicIdx < 0 || this.#lastTl0 < 0
        ? 0
        : (((this.#lastTl0 + 1 - info.tl0PicIdx) % TL0_MOD) + TL0_MOD) % TL0_MOD;
    this.#current = slot;
    return slot;
  }
}
