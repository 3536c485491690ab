#!/usr/bin/env python3
"""Benchmark driver: mountd vs s3fs vs rclone on one S3 server, side by side.

Started by scripts/bench.sh (which builds mountd, starts the servers, seeds the buckets and
compiles bench/proxy.rs); see bench/README.md. Every measurement is one fresh mount on a
cold client: page cache dropped, the tool mounted, the workload run, the tool unmounted.
Repetitions rotate the order of the tools, so slow drifts (another build on the machine)
spread over all of them.

Writes RESULTS.md (the table) and RESULTS.json (every raw figure) and keeps per-run logs
(mountd's -d request log, the proxies' request lists) in WORK/runs/.
"""
import argparse
import atexit
import json
import os
import platform
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

TOOLS = ["mountd", "s3fs", "rclone"]
PROXY_VARS = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "ftp_proxy", "FTP_PROXY"]
MIB = 1 << 20


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def base_env():
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


# ---------------------------------------------------------------- cleanup of everything we start

LIVE_PROCS = []     # Popen objects to stop at exit
LIVE_MOUNTS = []    # mountpoints to detach at exit


def mounted(mp):
    mp = os.path.realpath(mp)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 4 and parts[4].replace("\\040", " ") == mp:
                return True
    return False


def detach(mp):
    for cmd in (["fusermount3", "-uz", mp], ["umount", "-l", mp]):
        if not mounted(mp):
            return
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


def kill_proc(p, grace=5.0):
    if p.poll() is not None:
        return
    try:
        p.terminate()
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def cleanup_all():
    for mp in list(LIVE_MOUNTS):
        try:
            detach(mp)
        except Exception:
            pass
    for p in list(LIVE_PROCS):
        try:
            kill_proc(p, 2.0)
        except Exception:
            pass
    for mp in list(LIVE_MOUNTS):
        try:
            detach(mp)
        except Exception:
            pass


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------- proxies

class Proxy:
    """bench/proxy.rs: counting proxy, optionally adding a delay per request chunk."""

    def __init__(self, binary, upstream, delay_ms, logdir, rate_mib=0):
        self.delay_ms = delay_ms
        self.p = subprocess.Popen([binary, "--upstream", upstream, "--delay-ms", str(delay_ms),
                                   "--rate-mib", str(rate_mib)],
                                  stdout=subprocess.PIPE,
                                  stderr=open(os.path.join(logdir, f"proxy-{delay_ms}ms-{rate_mib}mib.log"), "w"),
                                  stdin=subprocess.DEVNULL, env=base_env(), text=True, cwd=logdir,
                                  start_new_session=True)
        LIVE_PROCS.append(self.p)
        line = self.p.stdout.readline()
        m = re.match(r"listen=(\d+) control=(\d+)", line or "")
        if not m:
            raise RuntimeError(f"bench-proxy did not start: {line!r}")
        self.port, self.control = int(m.group(1)), int(m.group(2))
        self.url = f"http://127.0.0.1:{self.port}"

    def _ask(self, what):
        with socket.create_connection(("127.0.0.1", self.control), timeout=30) as s:
            s.sendall(what.encode() + b"\n")
            chunks = []
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                chunks.append(b)
        return b"".join(chunks).decode()

    def reset(self):
        self._ask("reset")

    def stats(self):
        return json.loads(self._ask("stats"))


def summarize_requests(st):
    by = {}
    ranged = []
    for method, target, rng in st["requests"]:
        by[method] = by.get(method, 0) + 1
        if method == "GET" and rng:
            m = re.match(r"bytes=(\d+)-(\d*)", rng)
            if m and m.group(2):
                ranged.append(int(m.group(2)) - int(m.group(1)) + 1)
    return {
        "requests": len(st["requests"]),
        "by_method": by,
        "connections": st["connections"],
        "bytes_from_server": st["bytes_from_server"],
        "bytes_to_server": st["bytes_to_server"],
        "ranged_gets": len(ranged),
        "range_bytes_total": sum(ranged),
        "range_sizes_first": ranged[:40],
    }


# ---------------------------------------------------------------- mounts

class Mount:
    def __init__(self, cfg, tool, bucket, url, tag):
        self.cfg, self.tool, self.bucket, self.url = cfg, tool, bucket, url
        self.mp = os.path.join(cfg.work, "mnt", tool)
        os.makedirs(self.mp, exist_ok=True)
        self.log = os.path.join(cfg.work, "runs", f"{tag}.{tool}.log")
        self.p = None

    def command(self):
        c = self.cfg
        if self.tool == "rclone":
            cmd = [c.rclone_bin, "mount", f":s3:{self.bucket}", self.mp, "--vfs-cache-mode", "off"]
            env = base_env()
            env.pop("AWS_CA_BUNDLE", None)  # rclone 1.60 fails to start with it set
            env.update({
                "RCLONE_CONFIG": "/dev/null",
                "RCLONE_S3_PROVIDER": "Other",
                "RCLONE_S3_ENDPOINT": self.url,
                "RCLONE_S3_REGION": "us-east-1",
                "RCLONE_S3_ACCESS_KEY_ID": c.key,
                "RCLONE_S3_SECRET_ACCESS_KEY": c.secret,
                "RCLONE_S3_FORCE_PATH_STYLE": "true",
            })
            return cmd, env
        binary = c.mountd_bin if self.tool == "mountd" else c.s3fs_bin
        cmd = [binary, self.bucket, self.mp, "-f",
               "-o", f"passwd_file={c.passwd}", "-o", f"url={self.url}",
               "-o", "use_path_request_style", "-o", "endpoint=us-east-1", "-o", "nomultipart"]
        if self.tool == "mountd":
            cmd.append("-d")  # one INFO line per S3 request, for the analysis
        return cmd, base_env()

    def start(self):
        if mounted(self.mp):
            detach(self.mp)
        cmd, env = self.command()
        self.cmdline = " ".join(shlex.quote(x) for x in cmd).replace(self.cfg.secret, "***")
        self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=open(self.log, "w"),
                                  stderr=subprocess.STDOUT, cwd=self.cfg.work, start_new_session=True)
        LIVE_PROCS.append(self.p)
        LIVE_MOUNTS.append(self.mp)
        deadline = time.monotonic() + self.cfg.mount_timeout
        while not mounted(self.mp):
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.tool} exited ({self.p.returncode}) before mounting: {tail(self.log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.tool} did not mount within {self.cfg.mount_timeout}s: {tail(self.log)}")
            time.sleep(0.05)
        # Mounted is not always answering yet (rclone mounts before its VFS is ready).
        run_bounded(["stat", "-c", "%i", self.mp], 30)
        return self

    def stop(self):
        if self.p is None:
            return
        try:
            if mounted(self.mp):
                subprocess.run(["fusermount3", "-u", self.mp], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_proc(self.p)
        finally:
            kill_proc(self.p)
            detach(self.mp)
            if self.p in LIVE_PROCS:
                LIVE_PROCS.remove(self.p)
            if self.mp in LIVE_MOUNTS:
                LIVE_MOUNTS.remove(self.mp)
            self.p = None

    def cpu_seconds(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tck  # utime, stime (fields 14, 15)

    def status(self, key):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return None


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class StepFailed(Exception):
    pass


def run_bounded(cmd, timeout, shell=False, capture=True):
    try:
        r = subprocess.run(cmd, shell=shell, timeout=timeout, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, env=base_env(),
                           executable="/bin/bash" if shell else None)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"timed out after {timeout}s: {cmd if shell else ' '.join(cmd)}")
    if r.returncode != 0:
        raise StepFailed(f"exit {r.returncode}: {cmd if shell else ' '.join(cmd)}: {r.stderr[-800:]}")
    return r


def timed(cmd, timeout, shell=True):
    t0 = time.monotonic()
    r = run_bounded(cmd, timeout, shell=shell)
    return time.monotonic() - t0, r


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


PY_TTFB = r"""
import os, sys, time, json
t0 = time.monotonic()
fd = os.open(sys.argv[1], os.O_RDONLY)
t1 = time.monotonic()
b = os.read(fd, 4096)
t2 = time.monotonic()
os.close(fd)
print(json.dumps({"open_ms": (t1 - t0) * 1e3, "ttfb_ms": (t2 - t0) * 1e3, "got": len(b)}))
"""

PY_RANDOM = r"""
import os, sys, time, json, random
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(4242)
offs = [rng.randrange(size // 4096) * 4096 for _ in range(n)]
fd = os.open(path, os.O_RDONLY)
t0 = time.monotonic()
got = 0
for o in offs:
    got += len(os.pread(fd, 4096, o))
dt = time.monotonic() - t0
os.close(fd)
print(json.dumps({"seconds": dt, "ops": n, "got": got}))
"""


# ---------------------------------------------------------------- workloads
# Each: name, title, bucket key, proxy ("direct", "count" or "delay"), run(mount) -> metrics.
# The first metric listed in METRICS is the primary one.

def wl_seqread(cfg, m):
    path = os.path.join(m.mp, "big.bin")
    run_bounded(["stat", path], 60)
    cpu0 = m.cpu_seconds()
    dt, r = timed(f"dd if={shlex.quote(path)} of=/dev/null bs=1M 2>&1", cfg.step_timeout)
    cpu1 = m.cpu_seconds()
    got = int(re.search(r"^(\d+) bytes", r.stdout, re.M).group(1))
    if got != cfg.big_mb * MIB:
        raise StepFailed(f"read {got} bytes, expected {cfg.big_mb * MIB}")
    return {"mib_s": got / MIB / dt, "seconds": dt, "cpu_s": cpu1 - cpu0,
            "peak_rss_mib": m.status("VmHWM") / MIB}


def wl_wan(cfg, m):
    """Like seqread, over a link where one connection is capped: parallel ranged GETs pay."""
    r = wl_seqread(cfg, m)
    return {"mib_s": r["mib_s"], "seconds": r["seconds"], "peak_rss_mib": r["peak_rss_mib"]}


def wl_ttfb(cfg, m):
    r = run_bounded([sys.executable, "-c", PY_TTFB, os.path.join(m.mp, "big.bin")], cfg.step_timeout)
    d = json.loads(r.stdout)
    if d["got"] != 4096:
        raise StepFailed(f"first read returned {d['got']} bytes")
    return {"ttfb_ms": d["ttfb_ms"], "open_ms": d["open_ms"]}


def wl_ls(cfg, m):
    d = os.path.join(m.mp, "d")
    dt, r = timed(f"ls -l {shlex.quote(d)} | wc -l", cfg.step_timeout)
    lines = int(r.stdout.strip())
    if lines != cfg.ls_count + 1:
        raise StepFailed(f"ls -l printed {lines} lines, expected {cfg.ls_count + 1}")
    return {"seconds": dt}


def wl_files(cfg, m):
    paths = " ".join(shlex.quote(os.path.join(m.mp, "d", f"f-{i:03d}.bin")) for i in range(cfg.files))
    dt, r = timed(f"cat {paths} | wc -c", cfg.step_timeout)
    got = int(r.stdout.strip())
    if got != cfg.files * cfg.file_kb * 1024:
        raise StepFailed(f"read {got} bytes, expected {cfg.files * cfg.file_kb * 1024}")
    return {"seconds": dt, "files_s": cfg.files / dt}


def wl_random(cfg, m):
    path = os.path.join(m.mp, "big.bin")
    r = run_bounded([sys.executable, "-c", PY_RANDOM, path, str(cfg.random_ops), str(cfg.big_mb * MIB)],
                    cfg.step_timeout)
    d = json.loads(r.stdout)
    if d["got"] != 4096 * cfg.random_ops:
        raise StepFailed(f"random reads returned {d['got']} bytes")
    return {"ops_s": d["ops"] / d["seconds"], "seconds": d["seconds"]}


def wl_write(cfg, m):
    name = f"w-{m.tool}-{os.getpid()}-{int(time.time() * 1000)}.bin"
    dst = os.path.join(m.mp, name)
    run_bounded(f"cat {shlex.quote(cfg.write_src)} > /dev/null", 120, shell=True)  # source warm
    dt, _ = timed(f"cp {shlex.quote(cfg.write_src)} {shlex.quote(dst)} && sync {shlex.quote(dst)}",
                  cfg.step_timeout)
    size = cfg.write_mb * MIB
    return {"mib_s": size / MIB / dt, "seconds": dt, "_object": name}


def wl_model(cfg, m):
    root = os.path.join(m.mp, "repo")
    dt, r = timed(f"find {shlex.quote(root)} -type f -print0 | xargs -0 cat | wc -c", cfg.step_timeout)
    got = int(r.stdout.strip())
    if got != cfg.model_bytes:
        raise StepFailed(f"read {got} bytes, expected {cfg.model_bytes}")
    return {"seconds": dt}


WORKLOADS = [
    # key, title, bucket, proxy, fn, [(metric, label, unit, better)]
    ("seqread", "1. Sequential read of {big} (dd bs=1M), no added latency", "big", "direct", wl_seqread,
     [("mib_s", "throughput", "MiB/s", "higher"), ("cpu_s", "daemon CPU", "s", "lower"),
      ("peak_rss_mib", "daemon peak RSS", "MiB", "lower")]),
    ("ttfb", "2. Time to first byte: open + read 4 KiB of {big}, 10 ms latency", "big", "delay", wl_ttfb,
     [("ttfb_ms", "open+first 4 KiB", "ms", "lower")]),
    ("ls", "3. `ls -l` of a directory of {ls} objects, 10 ms latency", "ls", "delay", wl_ls,
     [("seconds", "time", "s", "lower")]),
    ("files", "4. `cat` {files} files of {file_kb} KiB, 10 ms latency", "files", "delay", wl_files,
     [("seconds", "time", "s", "lower")]),
    ("random", "5. {random_ops} random 4 KiB preads in {big}, no added latency", "big", "count", wl_random,
     [("ops_s", "rate", "ops/s", "higher"), ("fetched_mib", "fetched from server", "MiB", "lower")]),
    ("write", "6. Write: `cp` a {write_mb} MiB file into the mount + `sync FILE`, no added latency", "write",
     "direct", wl_write, [("mib_s", "throughput", "MiB/s", "higher")]),
    ("model", "7. Model repository: `find` + `cat` every file ({model_mb} MiB model, {model_many} small files), 10 ms latency",
     "model", "delay", wl_model, [("seconds", "time", "s", "lower")]),
    ("wan", "8. Sequential read of {big} (dd bs=1M), 10 ms latency and {rate_mib} MiB/s per connection", "big",
     "wan", wl_wan, [("mib_s", "throughput", "MiB/s", "higher"), ("peak_rss_mib", "daemon peak RSS", "MiB", "lower")]),
]


# ---------------------------------------------------------------- the run

def summarize_mountd_log(path):
    """Counts of mountd's per-request log lines (target s3client::request) by op."""
    ops = {}
    get_bytes = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if "s3client::request" not in line:
                    continue
                m = re.search(r"\bop=\"?(\w+)", line)
                op = m.group(1) if m else "?"
                ops[op] = ops.get(op, 0) + 1
                if op.startswith("get"):
                    b = re.search(r"\bbytes=(\d+)", line)
                    if b:
                        get_bytes.append(int(b.group(1)))
    except OSError:
        pass
    return {"ops": ops, "get_body_bytes_first": get_bytes[:40], "get_body_bytes_total": sum(get_bytes)}


def delete_object(cfg, bucket, key):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "tools"))
    import s3tool

    class A:
        endpoint, region, access_key, secret_key = cfg.garage_url, "us-east-1", cfg.key, cfg.secret
    s3 = s3tool.client(A)
    head = s3.head_object(Bucket=bucket, Key=key)
    s3.delete_object(Bucket=bucket, Key=key)
    return head["ContentLength"]


def measure(cfg, wl, tool, rep, proxies):
    key, _title, bkey, proxy_kind, fn, _metrics = wl
    tag = f"{key}.r{rep}"
    proxy = proxies.get(proxy_kind)
    url = proxy.url if proxy else cfg.garage_url
    drop_caches()
    m = Mount(cfg, tool, cfg.buckets[bkey], url, tag)
    res = {"tool": tool, "rep": rep}
    try:
        m.start()
        res["command"] = m.cmdline
        if proxy:
            proxy.reset()
        res.update(fn(cfg, m))
        if proxy:
            st = proxy.stats()
            res["proxy"] = summarize_requests(st)
            res["fetched_mib"] = st["bytes_from_server"] / MIB
            with open(os.path.join(cfg.work, "runs", f"{tag}.{tool}.requests.json"), "w") as f:
                json.dump(st, f)
        res["ok"] = True
    except (StepFailed, RuntimeError, OSError, ValueError, AttributeError) as e:
        res["ok"] = False
        res["error"] = str(e)[-1500:]
        log(f"  {key} {tool} rep {rep}: FAILED: {res['error']}")
    finally:
        m.stop()
    if key == "write" and res.get("_object"):
        try:
            size = delete_object(cfg, cfg.buckets["write"], res.pop("_object"))
            if size != cfg.write_mb * MIB:
                res["ok"] = False
                res["error"] = f"uploaded object has {size} bytes, expected {cfg.write_mb * MIB}"
        except Exception as e:
            res["ok"] = False
            res["error"] = f"uploaded object not found: {e}"
    if tool == "mountd":
        res["mountd_requests"] = summarize_mountd_log(m.log)
    return res


def stats_of(vals):
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals), "values": vals}


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(better, mine, other):
    """How many times better mountd is: >1 mountd better, <1 mountd worse."""
    if mine is None or other is None or mine == 0 or other == 0:
        return None
    return mine / other if better == "higher" else other / mine


def render(cfg, results, meta):
    L = []
    L.append(f"# mountd benchmark, {meta['date']} on {meta['host']}")
    L.append("")
    L.append(f"mountd `{meta['mountd_commit']}` (release build) vs s3fs `{meta['s3fs_version']}` vs rclone "
             f"`{meta['rclone_version']}` (`rclone mount --vfs-cache-mode off`, the default), against one Garage "
             f"server on 127.0.0.1. {meta['cpus']} CPUs; "
             f"{'QUICK sizes; ' if cfg.quick else ''}{cfg.reps} runs per cell, each on a fresh mount after "
             "`echo 3 > /proc/sys/vm/drop_caches` (the server's data lives on tmpfs, so only the client is cold). "
             "Latency rows go through bench/proxy.rs adding 10 ms to every client-to-server chunk "
             "(≈ one round trip per request).")
    L.append("")
    L.append("Cells: **median** (min–max). Ratio columns: **how many times better mountd is** than the peer "
             "on that row (higher-is-better rows: mountd/peer; lower-is-better rows: peer/mountd). "
             "**> 1 means mountd is better, < 1 means mountd is worse.**")
    L.append("")
    L.append("| workload | metric | better | mountd | s3fs | rclone | mountd vs s3fs | mountd vs rclone |")
    L.append("|---|---|---|---|---|---|---|---|")
    for wl in WORKLOADS:
        key, title, _b, _p, _fn, metrics = wl
        if key not in results:
            continue
        title = title.format(big=f"{cfg.big_mb} MiB object" if cfg.big_mb < 1024 else f"{cfg.big_mb // 1024} GiB object",
                             ls=f"{cfg.ls_count:,}", files=cfg.files, file_kb=cfg.file_kb,
                             random_ops=cfg.random_ops, write_mb=cfg.write_mb, model_mb=cfg.model_mb,
                             model_many=cfg.model_many, rate_mib=cfg.rate_mib)
        rows = list(metrics)
        if wl[3] == "delay":
            rows.append(("requests", "S3 requests sent", "", "lower"))
        for i, (metric, label, unit, better) in enumerate(rows):
            cells = {}
            for tool in TOOLS:
                s = results[key]["summary"].get(tool, {}).get(metric)
                fails = results[key]["failures"].get(tool, 0)
                if s is None:
                    cells[tool] = (None, "failed" if fails else "—")
                else:
                    txt = f"**{fmt(s['median'])}** ({fmt(s['min'])}–{fmt(s['max'])})"
                    if fails:
                        txt += f" [{fails} failed]"
                    cells[tool] = (s["median"], txt)
            r1 = ratio(better, cells["mountd"][0], cells["s3fs"][0])
            r2 = ratio(better, cells["mountd"][0], cells["rclone"][0])
            name = title if i == 0 else ""
            L.append(f"| {name} | {label}{' (' + unit + ')' if unit else ''} | {better} | {cells['mountd'][1]} | "
                     f"{cells['s3fs'][1]} | {cells['rclone'][1]} | {fmt(r1) + '×' if r1 else '—'} | "
                     f"{fmt(r2) + '×' if r2 else '—'} |")
    L.append("")
    L.append("Commands (BUCKET, MP, URL, passwd file stand for the run's values):")
    L.append("")
    for tool in TOOLS:
        L.append(f"- {tool}: `{meta['commands'].get(tool, '?')}`")
    L.append("")
    L.append("Request counts come from the proxy (every HTTP request it saw during the workload, after the "
             "mount was up). Raw figures: the `.json` file beside this one.")
    errs = [(k, r) for k, v in results.items() for r in v["runs"] if not r.get("ok")]
    if errs:
        L.append("")
        L.append("Failures:")
        L.append("")
        for k, r in errs:
            L.append(f"- {k} {r['tool']} run {r['rep']}: {r.get('error', '?')[:400]}".replace("\n", " "))
    return "\n".join(L) + "\n"


def version(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        return r.stdout.strip().splitlines()[0]
    except Exception as e:
        return f"? ({e})"


def main():
    ap = argparse.ArgumentParser()
    for a in ["garage-url", "key", "secret", "buckets", "work", "out-md", "out-json", "mountd-bin",
              "s3fs-bin", "rclone-bin", "proxy-bin", "passwd", "write-src", "mountd-commit"]:
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default=",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--delay-ms", type=int, default=10)
    ap.add_argument("--rate-mib", type=int, default=64)
    ap.add_argument("--step-timeout", type=int, default=600)
    ap.add_argument("--mount-timeout", type=int, default=60)
    for a, d in [("big-mb", 1024), ("ls-count", 10000), ("files", 500), ("file-kb", 256), ("random-ops", 200),
                 ("write-mb", 256), ("model-mb", 256), ("model-many", 200), ("model-bytes", 0)]:
        ap.add_argument("--" + a, type=int, default=d)
    cfg = ap.parse_args()
    cfg.buckets = json.loads(cfg.buckets)
    os.makedirs(os.path.join(cfg.work, "runs"), exist_ok=True)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (drop_caches, FUSE mounts)")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(cleanup_all)

    wanted = cfg.workloads.split(",")
    tools = [t for t in TOOLS if t in cfg.tools.split(",")]
    proxies = {
        "delay": Proxy(cfg.proxy_bin, cfg.garage_url, cfg.delay_ms, cfg.work),
        "count": Proxy(cfg.proxy_bin, cfg.garage_url, 0, cfg.work),
        "wan": Proxy(cfg.proxy_bin, cfg.garage_url, cfg.delay_ms, cfg.work, cfg.rate_mib),
    }
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "mountd_commit": cfg.mountd_commit,
        "s3fs_version": version([cfg.s3fs_bin, "--version"]),
        "rclone_version": version([cfg.rclone_bin, "version"]),
        "quick": cfg.quick,
        "reps": cfg.reps,
        "delay_ms": cfg.delay_ms,
        "sizes": {k: getattr(cfg, k) for k in ["big_mb", "ls_count", "files", "file_kb", "random_ops",
                                               "write_mb", "model_mb", "model_many", "model_bytes"]},
        "buckets": cfg.buckets,
        "commands": {},
    }
    results = {}
    t_start = time.monotonic()
    try:
        for wl in WORKLOADS:
            key = wl[0]
            if key not in wanted:
                continue
            log(f"workload {key}")
            runs = []
            for rep in range(cfg.reps):
                order = tools[rep % len(tools):] + tools[:rep % len(tools)]
                for tool in order:
                    r = measure(cfg, wl, tool, rep, proxies)
                    if "command" in r:
                        meta["commands"].setdefault(tool, r["command"]
                                                    .replace(cfg.buckets[wl[2]], "BUCKET")
                                                    .replace(os.path.join(cfg.work, "mnt", tool), "MP")
                                                    .replace(cfg.passwd, "PASSWD")
                                                    .replace(proxies["delay"].url, "URL")
                                                    .replace(proxies["count"].url, "URL")
                                                    .replace(cfg.garage_url, "URL"))
                    shown = {k: round(v, 3) for k, v in r.items() if isinstance(v, float)}
                    log(f"  {key} {tool} rep {rep}: {shown if r.get('ok') else 'failed'}"
                        + (f" requests={r['proxy']['requests']}" if r.get("proxy") else ""))
                    runs.append(r)
            summary, failures = {}, {}
            for tool in tools:
                ok = [r for r in runs if r["tool"] == tool and r.get("ok")]
                failures[tool] = sum(1 for r in runs if r["tool"] == tool and not r.get("ok"))
                metrics = [m[0] for m in wl[5]] + ["requests"]
                summary[tool] = {}
                for metric in metrics:
                    if metric == "requests":
                        vals = [r["proxy"]["requests"] for r in ok if r.get("proxy")]
                    else:
                        vals = [r[metric] for r in ok if metric in r]
                    summary[tool][metric] = stats_of(vals)
            results[key] = {"runs": runs, "summary": summary, "failures": failures}
            # Write partial results after every workload: a later failure keeps what was measured.
            meta["elapsed_s"] = time.monotonic() - t_start
            with open(cfg.out_json, "w") as f:
                json.dump({"meta": meta, "results": results}, f, indent=1)
            with open(cfg.out_md, "w") as f:
                f.write(render(cfg, results, meta))
    finally:
        cleanup_all()
    print(render(cfg, results, meta))


if __name__ == "__main__":
    main()
