#!/usr/bin/python3
"""Runs one transcoder pipeline as gst-launch-1.0 would, plus keyframes on demand.

Usage: gst-runner.py PIPELINE-ARGS...  (the same argv gst-launch-1.0 takes; -q is ignored)
       gst-runner.py --check           (exit 0 when GStreamer's Python bindings work here)

gst-launch-1.0 has no way to be told anything once it runs. This runner reads fd 4: each "K" byte
sends the element named "enc" an upstream force-key-unit event, so the encoder's next frame is a
keyframe (a listener that lost a packet NACK could not repair waits for it instead of for the next
periodic keyframe). Exit codes as gst-launch-1.0: 0 after end of stream, 1 after an error (its
message on stderr). Stops at EOS, on an error, or when fd 4 reaches EOF together with stdin (the
owner is gone).
"""

import ctypes
import os
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

CONTROL_FD = 4
PR_SET_NAME = 15


def main(argv):
    Gst.init(None)
    if argv == ["--check"]:
        return 0
    # The process name the server's tests and ps show: like gst-launch-1.0's, "gst-" first.
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, b"gst-transcoder", 0, 0, 0)
    except (OSError, AttributeError):
        pass
    pipeline = Gst.parse_launchv([a for a in argv if a != "-q"])
    encoder = pipeline.get_by_name("enc")
    loop = GLib.MainLoop()
    status = {"code": 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.EOS:
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            name = message.src.get_name() if message.src else "?"
            sys.stderr.write(f"ERROR: from element {name}: {err.message}\n{debug or ''}\n")
            sys.stderr.flush()
            status["code"] = 1
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    def force_keyframe():
        if encoder is not None:
            event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
            encoder.get_static_pad("src").send_event(event)
        return False

    def read_control():
        try:
            while True:
                data = os.read(CONTROL_FD, 64)
                if not data:
                    return
                if b"K" in data:
                    GLib.idle_add(force_keyframe)
        except OSError:
            return

    if os.path.exists(f"/proc/self/fd/{CONTROL_FD}"):
        threading.Thread(target=read_control, daemon=True).start()
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        sys.stderr.write("ERROR: pipeline could not be set to PLAYING\n")
        return 1
    try:
        loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
    return status["code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
