"""The dlmirror nbdkit plugin with real NBD clients, through a crash.

1. nbdkit serves a new mirror (16 MiB, 64 KiB regions, disk log); the full
   initial resync finishes in the background. While it serves: read-only
   `dlmirror status` and `verify` succeed and say "live"; a second nbdkit on
   the same log= and legs= (and one on the same legs with another log) is
   refused, naming the busy leg; no byte of the log or the legs changes.
   Plugin parameters that are not numbers, or do not fit, are refused.
2. qemu-io and nbdsh write known patterns; each acknowledged write goes into
   the model of what the disk must hold.
3. The test creates the plugin's stall file: every later write reaches leg 0
   and is then parked before leg 1. libnbd issues 8 writes to 8 regions; once
   the plugin reports all 8 parked, nbdkit gets SIGKILL.
   A read-only `dlmirror verify` on the live, stalled server reports the 8
   regions as differing and dirty (writes in flight), not as errors.
4. `dlmirror verify` finds exactly those 8 regions differing, all dirty.
5. nbdkit restarts, resyncs only the dirty regions (bytes = dirty regions x
   region size), and nbdcopy/qemu-io read back: every sector holds what the
   model says, or, for a write never acknowledged, the old or the new data.
6. FUA writes and a flush through nbdsh, a clean shutdown (SIGTERM), then
   `dlmirror verify` and `status`: legs identical, log all clean, data right.
Only the external nbdkit process and its socket are waited for by polling,
with bounds."""
import os
import hashlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import nbd

PLUGIN, DLMIRROR = sys.argv[1], sys.argv[2]  # argv[3]: the C compiler (for the .sh)
# nbdsh is libnbd's Python shell; it needs the Python that has the module.
NBDSH = ["/usr/bin/python3", "-m", "nbd"]
SIZE = 16 << 20
REGION = 64 << 10
SECTOR = 512
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("CHECK FAILED:", what, flush=True)
    return cond


def wait_for(cond, what, timeout=20.0):
    """Bounded polling, for the external nbdkit process only."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def read_stats(path):
    try:
        with open(path) as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
    except FileNotFoundError:
        return {}


def read_status(path):
    """The live status file (docs/mirror.md): "dlmirror-status 1", then
    "key value" lines; numbers as ints."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    if not lines or lines[0] != "dlmirror-status 1":
        raise RuntimeError("not a status file: %r" % lines[:1])
    out = {}
    for line in lines[1:]:
        k, v = line.split(" ", 1)
        out[k] = int(v) if v.lstrip("-").isdigit() else v
    return out


def nbdkit_env():
    env = dict(os.environ)
    if env.get("DL_NBDKIT_PRELOAD"):  # a sanitizer build (see the .sh)
        env["LD_PRELOAD"] = env["DL_NBDKIT_PRELOAD"]
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def hashes(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(hashlib.sha256(f.read()).hexdigest())
    return out


def refused(d, params, what):
    """An nbdkit with these plugin parameters must not start: it exits
    non-zero, says `what`, and never opens its socket."""
    sock = os.path.join(d, "sock-refused")
    if os.path.exists(sock):
        os.unlink(sock)
    args = ["nbdkit", "-f", "-U", sock, PLUGIN] + params
    print("+", " ".join(args), flush=True)
    p = subprocess.Popen(args, env=nbdkit_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: p.poll() is not None or os.path.exists(sock), "nbdkit to exit")
    if p.poll() is None:  # it started: the check below fails
        p.kill()
    out = p.communicate()[0]
    print(out, end="", flush=True)
    check(p.returncode != 0 and not os.path.exists(sock), "nbdkit %s was refused" % params)
    check(what in out, "the refusal says %r" % what)


class Server:
    """nbdkit started as docs/mirror.md says: `dlmirror rm-stale-socket SOCK`
    first (nbdkit leaves its socket behind whenever it exits), then nbdkit
    (here with -f, to wait for it). stale: the socket must be there before."""
    def __init__(self, d, log_table, extra=(), stale=False):
        self.sock = os.path.join(d, "sock")
        self.stats = os.path.join(d, "stats")
        self.status = os.path.join(d, "status")
        if os.path.exists(self.stats):
            os.unlink(self.stats)
        check(os.path.exists(self.sock) == stale,
              "the old nbdkit's socket is %sthere" % ("" if stale else "not "))
        out = run([DLMIRROR, "rm-stale-socket", self.sock])
        check(not os.path.exists(self.sock), "no socket left to trip nbdkit")
        if stale:
            check("removed a stale socket" in out, "rm-stale-socket says it removed it")
        self.uri = "nbd+unix:///?socket=" + self.sock
        args = ["nbdkit", "-f", "-U", self.sock, PLUGIN, "log=" + log_table,
                "legs=%s,%s" % (os.path.join(d, "a"), os.path.join(d, "b")),
                "stats=" + self.stats, "status=" + self.status, "status_interval_ms=50",
                "flush_interval_ms=200"] + list(extra)
        print("+", " ".join(args), flush=True)
        self.proc = subprocess.Popen(args, env=nbdkit_env())
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, "the socket")
        if self.proc.poll() is not None:
            raise RuntimeError("nbdkit exited with %d" % self.proc.returncode)

    def stat(self):
        return read_stats(self.stats)

    def wait_resync(self):
        wait_for(lambda: self.stat().get("resync_done") == 1, "the resync")
        return self.stat()

    def live(self):
        return read_status(self.status)

    def wait_live(self, cond, what):
        """Poll the live status until cond holds (it is rewritten at most every
        status_interval_ms, after each resync region and clear pass)."""
        wait_for(lambda: (lambda s: bool(s) and cond(s))(self.live()), what)
        return self.live()


def run(args, want=0):
    print("+", " ".join(args), flush=True)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout, end="", flush=True)
    check(p.returncode == want, "%s exited %d, expected %d" % (args[0], p.returncode, want))
    return p.stdout


def pattern(seed, length):
    return bytes(((seed * 131 + i // SECTOR * 7 + i) & 0xFF) for i in range(length))


def main():
    d = tempfile.mkdtemp(prefix="dlmirror-nbd-")
    srv = None
    try:
        log = "disk 2 %s 128" % os.path.join(d, "log")
        model = bytearray(SIZE)   # what acknowledged writes put there
        maybe = []                # (offset, data) written but never acknowledged

        # 1. A new mirror: the log starts out of sync; resync copies everything.
        # The live status shows it move: the resync is held (test knob) at 0,
        # then at 100 regions, then let go.
        pause = os.path.join(d, "pause")
        with open(pause, "w") as f:
            f.write("0")
        srv = Server(d, log, ["size=%d" % SIZE, "create=1",
                              "test_stall_file=" + os.path.join(d, "stall"),
                              "test_resync_pause_file=" + pause])
        legs = [os.path.join(d, "a"), os.path.join(d, "b")]
        regions = SIZE // REGION
        live = srv.wait_live(lambda s: s["state"] == "resyncing", "the status file")
        check(live["writer"] == "nbdkit-dlmirror-plugin" and live["pid"] == srv.proc.pid,
              "the status names the plugin and nbdkit's pid")
        check((live["size"], live["region_bytes"], live["region_count"]) == (SIZE, REGION, regions),
              "the status has the mirror's geometry")
        check((live["in_sync"], live["resync_total"], live["resync_regions"]) == (0, regions, 0),
              "a new mirror: nothing in sync, the resync held at 0: %s" % live)
        out = run([DLMIRROR, "status", "--status", srv.status])
        check("live:     resyncing" in out and "0 / %d regions (0%%)" % regions in out,
              "dlmirror status --status shows the held resync")
        with open(pause + ".new", "w") as f:
            f.write("100")
        os.rename(pause + ".new", pause)
        live = srv.wait_live(lambda s: s["resync_regions"] == 100, "100 regions resynced")
        check(live["state"] == "resyncing" and live["in_sync"] == 100 and
              live["resync_bytes"] == 100 * REGION, "the status at 100 regions: %s" % live)
        left = (regions - 100) * REGION
        if live["resync_rate"] > 0:  # -1 while the window cannot tell
            eta = live["resync_eta"]
            check(abs(eta - left / live["resync_rate"]) <= 1.0, "ETA %d s for %d bytes at %d B/s"
                  % (eta, left, live["resync_rate"]))
        out = run([DLMIRROR, "status", "--log", log, "--status", srv.status] + legs)
        check("live:     resyncing" in out and "100 / %d regions (39%%)" % regions in out
              and "MiB/s, ETA " in out, "dlmirror status shows the log and the live resync")
        os.unlink(pause)
        st = srv.wait_resync()
        check(st["resync_bytes"] == SIZE, "initial resync copied the whole device")
        live = srv.wait_live(lambda s: s["state"] == "serving", "the status after the resync")
        check((live["in_sync"], live["resync_regions"], live["resync_eta"]) == (regions, regions, 0),
              "the status after the resync: %s" % live)
        legs_param = "legs=" + ",".join(legs)
        files = [os.path.join(d, "log")] + legs

        # The mirror is live and idle (the resync has persisted its work):
        # read-only inspection works and writes nothing; a second server on
        # the same legs is refused before it touches anything.
        before = hashes(files)
        out = run([DLMIRROR, "status", "--log", log] + legs)
        check("live:     yes, held by another process: %s %s %s" % tuple(files) in out,
              "status says the mirror is live")
        check(" 256/256 1 AA 3 disk " in out, "status read the served log")
        out = run([DLMIRROR, "verify", "--log", log] + legs)
        check("live:     yes" in out and "OK: the legs are identical" in out,
              "verify on the live mirror")
        busy = "leg %s is in use by another process" % legs[0]
        refused(d, ["log=" + log, legs_param], busy)
        refused(d, ["log=core 1 128", legs_param], busy)  # would resync leg 1 from leg 0
        check(hashes(files) == before, "inspection and refused servers changed no byte")
        out = run([DLMIRROR, "rm-stale-socket", srv.sock], want=1)
        check("a server listens on" in out and os.path.exists(srv.sock),
              "rm-stale-socket keeps a socket nbdkit listens on")
        run(["qemu-io", "-f", "raw", "-r", srv.uri, "-c", "read -P 0 0 64k"])

        # Parameters: digits only, in range (refused before anything opens).
        for bad in ["flush_interval_ms=18446744073709551616", "flush_interval_ms=0",
                    "flush_interval_ms=+200", "hot_periods=-0", "hot_periods=8388608",
                    "hot_periods=1x", "size=18446744073709551616", "size=16777216T",
                    "size=1x", "size=1000"]:
            key = bad.split("=")[0]
            refused(d, ["log=disk 2 %s 128" % os.path.join(d, "new.log"),
                        "legs=%s,%s" % (os.path.join(d, "new-a"), os.path.join(d, "new-b")),
                        "create=1", bad] + ([] if key == "size" else ["size=1M"]),
                    key + "=")
        check(not any(os.path.exists(os.path.join(d, f)) for f in ("new.log", "new-a", "new-b")),
              "refused parameters created nothing")

        # 2. Acknowledged writes: qemu-io (writethrough: FUA) and nbdsh.
        qemu_writes = [(0x11, 0, 1 << 20), (0x22, 3 << 20, 128 << 10),
                       (0x33, (8 << 20) + 4096, 12 << 10), (0x44, (15 << 20) - 512, 512)]
        cmds = []
        for pat, off, ln in qemu_writes:
            cmds += ["-c", "write -P 0x%x %d %d" % (pat, off, ln)]
            model[off:off + ln] = bytes([pat]) * ln
        run(["qemu-io", "-f", "raw", srv.uri] + cmds)
        script = ("buf = bytes(((5 * 131 + i // 512 * 7 + i) & 0xFF) for i in range(65536 * 3))\n"
                  "h.pwrite(buf, (5 << 20) + 1024)\nh.flush()\n")
        run(NBDSH + ["-u", srv.uri, "-c", script])
        model[(5 << 20) + 1024:(5 << 20) + 1024 + 3 * 65536] = pattern(5, 3 * 65536)
        wrote = sum(ln for _, _, ln in qemu_writes) + 3 * 65536
        live = srv.wait_live(lambda s: s["write_bytes"] == wrote and s["dirty"] == 0,
                             "the written bytes in the status, their regions cleared")
        check(live["writes"] >= 5 and live["state"] == "serving", "the status counts the writes")

        # 3. Writes in flight at the crash: 8 regions, leg 0 written, leg 1 not.
        open(os.path.join(d, "stall"), "w").close()
        h = nbd.NBD()
        h.connect_unix(srv.sock)
        inflight = []
        for k in range(8):
            off = (1 + 2 * k) * (1 << 20) + 4096 * k  # inside region 16 + 32k
            data = pattern(100 + k, 16384)
            buf = nbd.Buffer.from_bytearray(bytearray(data))
            inflight.append((off, data, buf, h.aio_pwrite(buf, off)))
        wait_for(lambda: h.poll(0) is not None and srv.stat().get("stalled_writes") == 8,
                 "8 parked writes")
        acked = sum(1 for _, _, _, c in inflight if h.aio_command_completed(c))
        check(acked == 0, "no parked write was acknowledged")
        live = srv.wait_live(lambda s: s["dirty"] == 8, "the 8 parked writes' regions dirty")
        check(live["write_bytes"] == wrote, "parked writes are not counted as done")
        out = run([DLMIRROR, "verify", "--log", log] + legs)
        check("live:     yes" in out and "256 regions, 8 differ, 0 of them clean in the log" in out
              and out.count("(expected: a write in flight on the live mirror)") == 8,
              "a read-only verify on the live server sees the 8 writes in flight")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        print("SIGKILL with 8 writes in flight", flush=True)
        out = run([DLMIRROR, "status", "--status", srv.status])
        check("STALE: pid %d is gone" % srv.proc.pid in out, "the status of a killed nbdkit is stale")
        for off, data, _, _ in inflight:
            maybe.append((off, data))
        try:
            h.shutdown()
        except nbd.Error:
            pass
        del h
        os.unlink(os.path.join(d, "stall"))

        # 4. Offline: the legs differ exactly in those 8 regions, all dirty.
        out = run([DLMIRROR, "verify", "--log", log] + legs)
        check("256 regions, 8 differ, 0 of them clean in the log" in out and "live:     no" in out,
              "verify saw the 8 parked writes as differing, dirty regions")

        # 5. Restart with the documented line (rm-stale-socket, then the same
        # nbdkit line): resync only the dirty regions, while serving.
        srv = Server(d, log, stale=True)
        st = srv.wait_resync()
        print("after restart:", st, flush=True)
        check(st["dirty_at_start"] >= 8, "the 8 in-flight regions were dirty")
        check(st["resync_regions"] == st["dirty_at_start"], "resynced every dirty region")
        check(st["resync_bytes"] == st["dirty_at_start"] * REGION,
              "bytes resynced == dirty regions x region size")
        check(st["resync_bytes"] < SIZE // 4, "far less than a full resync")
        img = os.path.join(d, "out.img")
        run(["nbdcopy", srv.uri, img])
        with open(img, "rb") as f:
            got = f.read()
        check(len(got) == SIZE, "nbdcopy read the whole export")
        bad = 0
        alt = {}
        for off, data in maybe:
            for s in range(0, len(data), SECTOR):
                alt[(off + s) // SECTOR] = data[s:s + SECTOR]
        for s in range(SIZE // SECTOR):
            a = got[s * SECTOR:(s + 1) * SECTOR]
            if a == model[s * SECTOR:(s + 1) * SECTOR] or a == alt.get(s):
                continue
            bad += 1
            if bad <= 5:
                print("sector %d holds neither the acknowledged nor the in-flight data" % s)
        check(bad == 0, "%d sectors hold data no client wrote" % bad)
        # From here on, the model is what the server now returns.
        model[:] = got
        run(["qemu-io", "-f", "raw", "-r", srv.uri, "-c", "read -P 0x11 0 1M",
             "-c", "read -P 0x22 %d %d" % (3 << 20, 4096)])  # before the in-flight write

        # 6. FUA writes and a flush, then a clean shutdown.
        script = ("import nbd\n"
                  "buf = bytes([0x77]) * 65536\n"
                  "h.pwrite(buf, 10 << 20, nbd.CMD_FLAG_FUA)\n"
                  "h.pwrite(buf[:4096], (12 << 20) + 512, nbd.CMD_FLAG_FUA)\nh.flush()\n")
        run(NBDSH + ["-u", srv.uri, "-c", script])
        model[10 << 20:(10 << 20) + 65536] = bytes([0x77]) * 65536
        model[(12 << 20) + 512:(12 << 20) + 512 + 4096] = bytes([0x77]) * 4096
        srv.proc.send_signal(signal.SIGTERM)
        check(srv.proc.wait() == 0, "nbdkit shut down cleanly")
        st = srv.stat()
        check(st["fua_writes"] >= 2 and st["flush_requests"] >= 1, "FUA and flush reached the plugin")
        check(st["dirty_regions"] == 0, "clean shutdown left no dirty region")
        live = srv.live()
        check(live["state"] == "stopped" and live["dirty"] == 0, "the status says stopped")
        out = run([DLMIRROR, "status", "--status", srv.status])
        check("stopped " in out and "the writer has exited" in out, "dlmirror status: stopped")
        srv = None
        out = run([DLMIRROR, "verify", "--log", log] + legs)
        check("OK: the legs are identical" in out, "legs identical after the clean shutdown")
        out = run([DLMIRROR, "status", "--log", log] + legs)
        check(" 256/256 1 AA 3 disk " in out and "dirty:    0 regions" in out, "log all clean")
        for leg in legs:
            with open(leg, "rb") as f:
                check(f.read() == bytes(model), "%s holds the data the clients wrote" % leg)

        # 7. nbdkit leaves its socket after a clean exit too: the same line restarts.
        srv = Server(d, log, stale=True)
        srv.wait_resync()
        run(["qemu-io", "-f", "raw", "-r", srv.uri, "-c", "read -P 0x77 %d 65536" % (10 << 20)])
        srv.proc.send_signal(signal.SIGTERM)
        check(srv.proc.wait() == 0, "the restarted nbdkit shut down cleanly")
        srv = None
    finally:
        if srv is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    if failures:
        print("test_nbd_mirror: %d check(s) FAILED" % failures)
        return 1
    print("test_nbd_mirror: all checks passed")
    return 0


sys.exit(main())
