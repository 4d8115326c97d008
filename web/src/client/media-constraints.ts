import type { UserMediaConfiguration } from "./protocol.ts";

export interface MediaConstraintsFromServer {
  audio: boolean;
  video: MediaTrackConstraints;
}

/** The server's userMediaConfiguration (numbers as strings) as getUserMedia / applyConstraints constraints. */
export function toMediaConstraints(c: UserMediaConfiguration): MediaConstraintsFromServer {
  const range = (r: { min: string | number; max: string | number }) => ({
    min: Number(r.min),
    max: Number(r.max),
  });
  return {
    audio: c.audio,
    video: {
      width: range(c.video.width),
      height: range(c.video.height),
      frameRate: range(c.video.frameRate),
    },
  };
}
