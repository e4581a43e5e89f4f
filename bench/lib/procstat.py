"""CPU, memory and thread figures of processes, from /proc.

CPU is utime+stime of /proc/PID/stat (clock ticks), which covers every
thread of the process; a window's CPU is the difference of two samples.
"""

import os
import time

HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """utime+stime of pid (ticks) or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces: fields start after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def status(pid):
    """(VmRSS in KiB, Threads) of pid, or (None, None)."""
    rss = thr = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    thr = int(line.split()[1])
    except OSError:
        pass
    return rss, thr


def machine_ticks():
    """(busy, total) ticks of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


class Window:
    """CPU of several processes and of the machine over a time window, plus
    RSS/threads sampled every `every` seconds while the window runs."""

    def __init__(self, pids):
        self.pids = dict(pids)  # name -> pid

    def run(self, seconds, every=0.5, during=None):
        t0 = time.monotonic()
        c0 = {n: cpu_ticks(p) for n, p in self.pids.items()}
        m0 = machine_ticks()
        mem = {n: [] for n in self.pids}
        thr = {n: [] for n in self.pids}
        end = t0 + seconds
        while True:
            for n, p in self.pids.items():
                r, t = status(p)
                if r is not None:
                    mem[n].append(r)
                    thr[n].append(t)
            if during:
                during()
            now = time.monotonic()
            if now >= end:
                break
            time.sleep(min(every, end - now))
        t1 = time.monotonic()
        c1 = {n: cpu_ticks(p) for n, p in self.pids.items()}
        m1 = machine_ticks()
        dt = t1 - t0
        out = {"seconds": round(dt, 3)}
        for n in self.pids:
            if c0[n] is None or c1[n] is None:
                out[n] = None
                continue
            ms = (c1[n] - c0[n]) * 1000.0 / HZ
            out[n] = {
                "cpu_ms": ms,
                "cpu_pct": 100.0 * ms / 1000.0 / dt,  # % of one core
                "rss_kb": (sum(mem[n]) / len(mem[n])) if mem[n] else None,
                "threads": max(thr[n]) if thr[n] else None,
            }
        busy = m1[0] - m0[0]
        total = m1[1] - m0[1]
        out["machine_busy_pct"] = 100.0 * busy / total if total else None
        return out
