import type { UserMediaConfiguration } from "../protocol/wire.ts";

/** The reference table: `others` is the number of other members the client will receive. */
export function userMediaConfiguration(others: number): UserMediaConfiguration {
  const n = Math.max(0, Math.floor(others));
  let maxWidth = 640;
  let maxHeight = 580;
  if (n > 1) {
    maxWidth = n > 2 ? 320 : 640;
    maxHeight = Math.floor(580 / Math.floor((n + (n % 2)) / 2));
  }
  const third = (v: number) => String(Math.floor(v / 3));
  return {
    audio: true,
    video: {
      width: { min: third(maxWidth), max: String(maxWidth) },
      height: { min: third(maxHeight), max: String(maxHeight) },
      frameRate: { min: "10", max: "30" },
    },
  };
}
