import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TranscodeCodec } from "./transcoder.ts";

/** What this machine's GStreamer can do for transcoding, found once at start. */
export interface GstCapabilities {
  /** true when gst-launch-1.0 and every element of the VP8 pipeline exist. */
  readonly available: boolean;
  /** Why not, for the one log line at start. */
  readonly reason?: string;
  /** Codecs that can be decoded (VP8 always when available; H264 with avdec_h264). */
  readonly codecs: ReadonlySet<TranscodeCodec>;
  readonly gstLaunch: string;
  /** `setpriv --pdeathsig KILL --` when util-linux's setpriv works here, else undefined. */
  readonly deathSignalPrefix?: readonly string[];
  /**
   * argv that runs a pipeline with keyframes on demand (`python3 gst-runner.py`), when GStreamer's
   * Python bindings are installed (GST_RUNNER_PACKAGES); undefined: gst-launch-1.0, whose keyframes
   * are only periodic.
   */
  readonly runner?: readonly string[];
}

/** Elements of every pipeline (gstreamer1.0-tools, -plugins-base, -plugins-good). */
export const GST_ELEMENTS = [
  "fdsrc",
  "fdsink",
  "rtpstreamdepay",
  "rtpstreampay",
  "rtpjitterbuffer",
  "rtpvp8depay",
  "vp8dec",
  "videoscale",
  "vp8enc",
  "rtpvp8pay",
] as const;

/** Extra elements to decode H.264 (rtph264depay from -plugins-good, avdec_h264 from gstreamer1.0-libav). */
export const GST_H264_ELEMENTS = ["rtph264depay", "avdec_h264"] as const;

export const GST_PACKAGES = "gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good";

/** What gst-runner.py needs besides GST_PACKAGES: GStreamer's GObject introspection for Python. */
export const GST_RUNNER_PACKAGES = "python3-gst-1.0 gir1.2-gst-plugins-base-1.0";

/** The runner script, next to this module in src/ and in dist/ (the build copies it). */
export const GST_RUNNER_SCRIPT = fileURLToPath(new URL("./gst-runner.py", import.meta.url));

/** Pythons to try for the runner: Debian's, whose packages carry the bindings, then PATH's. */
const PYTHONS = ["/usr/bin/python3", "python3"];

function runs(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 10_000 });
  return r.error === undefined && r.status === 0;
}

let cached: GstCapabilities | undefined;

/** detectGstreamer() with the default binaries, once per process (or worker thread). */
export function detectGstreamerOnce(): GstCapabilities {
  cached ??= detectGstreamer();
  return cached;
}

/**
 * Looks for gst-launch-1.0 and the elements the transcoder pipeline uses (`gst-inspect-1.0 --exists`,
 * about 10 ms each), and for setpriv. Synchronous: called once when a media plane starts.
 */
export function detectGstreamer(
  options: {
    gstLaunch?: string;
    gstInspect?: string;
    setpriv?: string;
    /** Pythons to try for the runner ([] : no runner). */
    pythons?: readonly string[];
    runnerScript?: string;
  } = {},
): GstCapabilities {
  const gstLaunch = options.gstLaunch ?? "gst-launch-1.0";
  const gstInspect = options.gstInspect ?? "gst-inspect-1.0";
  const setpriv = options.setpriv ?? "setpriv";
  const deathSignalPrefix = runs(setpriv, ["--pdeathsig", "KILL", "--", "true"])
    ? [setpriv, "--pdeathsig", "KILL", "--"]
    : undefined;
  const base = { gstLaunch, ...(deathSignalPrefix ? { deathSignalPrefix } : {}) };
  if (!runs(gstLaunch, ["--version"]) || !runs(gstInspect, ["--version"])) {
    return {
      ...base,
      available: false,
      reason: `${gstLaunch} or ${gstInspect} not found (apt-get install ${GST_PACKAGES})`,
      codecs: new Set(),
    };
  }
  const missing = GST_ELEMENTS.filter((e) => !runs(gstInspect, ["--exists", e]));
  if (missing.length > 0) {
    return {
      ...base,
      available: false,
      reason: `GStreamer elements missing: ${missing.join(", ")} (apt-get install ${GST_PACKAGES})`,
      codecs: new Set(),
    };
  }
  const codecs = new Set<TranscodeCodec>(["VP8"]);
  if (GST_H264_ELEMENTS.every((e) => runs(gstInspect, ["--exists", e]))) codecs.add("H264");
  const script = options.runnerScript ?? GST_RUNNER_SCRIPT;
  const python = existsSync(script)
    ? (options.pythons ?? PYTHONS).find((p) => runs(p, [script, "--check"]))
    : undefined;
  return { ...base, available: true, codecs, ...(python ? { runner: [python, script] } : {}) };
}
