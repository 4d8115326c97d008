/**
 * An owner of one transcoder, for the test that kills the owner: run as a process
 * (`node transcode-owner.ts pdeathsig|stdin-eof`) it prints "transcoder <pid> producing source <pid>"
 * once the transcoder makes packets; run as a worker thread it posts {pid, sourcePid}. Then it waits
 * to be killed. "pdeathsig" starts the child through `setpriv --pdeathsig KILL`; "stdin-eof" relies
 * on the child's stdin reaching EOF alone.
 */
import { isMainThread, parentPort } from "node:worker_threads";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { detectGstreamer } from "../../src/media/transcode/gstreamer.ts";
import { Transcoder } from "../../src/media/transcode/transcoder.ts";
import { startVp8Source } from "./gstreamer.ts";

const mode = process.argv[2] === "pdeathsig" ? "pdeathsig" : "stdin-eof";
const gst = detectGstreamer();
if (mode === "pdeathsig" && !gst.deathSignalPrefix) throw new Error("setpriv --pdeathsig does not work here");
let reported = false;
const transcoder = new Transcoder({
  codec: "VP8",
  target: { height: 120, bitrateBps: 100_000, keyframeIntervalFrames: 10 },
  ...(mode === "pdeathsig" && gst.deathSignalPrefix ? { deathSignalPrefix: gst.deathSignalPrefix } : {}),
  log: newSilentLogger(),
  onPacket: () => {
    if (reported) return;
    reported = true;
    if (isMainThread) process.stdout.write(`transcoder ${transcoder.pid} producing source ${source.pid}\n`);
    else parentPort?.postMessage({ pid: transcoder.pid, sourcePid: source.pid });
  },
});
const source = startVp8Source({ width: 320, height: 240, fps: 10, onPacket: (rtp) => transcoder.push(rtp) });
setInterval(() => {}, 60_000);
