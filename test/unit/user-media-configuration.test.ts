import assert from "node:assert/strict";
import { test } from "node:test";
import { userMediaConfiguration } from "../../src/rooms/user-media-configuration.ts";

test("alone or with one other member: 640x580, min a third", () => {
  for (const n of [0, 1]) {
    assert.deepEqual(userMediaConfiguration(n), {
      audio: true,
      video: {
        width: { min: "213", max: "640" },
        height: { min: "193", max: "580" },
        frameRate: { min: "10", max: "30" },
      },
    });
  }
});

test("the reference table for larger rooms", () => {
  const rows: Array<[number, string, string]> = [
    [2, "640", "580"],
    [3, "320", "290"],
    [4, "320", "290"],
    [5, "320", "193"],
    [7, "320", "145"],
  ];
  for (const [n, width, height] of rows) {
    const c = userMediaConfiguration(n);
    assert.equal(c.video.width.max, width, `width for n=${n}`);
    assert.equal(c.video.height.max, height, `height for n=${n}`);
    assert.equal(c.video.height.min, String(Math.floor(Number(height) / 3)));
  }
});
