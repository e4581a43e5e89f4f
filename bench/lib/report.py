"""result.json -> slopes, markdown table, plot; and the smoke-test check.

CLI: report.py check RESULT.json N    (exit 1 with the reasons if the run
                                       does not show every viewer served)
"""

import json
import sys


def _fit(points):
    """Least-squares slope and intercept of [(x, y)]."""
    pts = [(x, y) for x, y in points if y is not None]
    if len(pts) < 2:
        return None, None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None, None
    k = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return k, my - k * mx


def slopes(res):
    """Gateway cost per extra viewer, fitted over N=0 (baseline) and every N."""
    base = res.get("baseline", {}).get("gateway") or {}
    bs = res.get("baseline", {}).get("seconds") or 1
    cpu = [(0, base["cpu_ms"] / bs)] if base else []
    rss = [(0, base.get("rss_kb"))] if base else []
    thr = [(0, base.get("threads"))] if base else []
    for r in res.get("steady", []):
        g = r.get("gateway")
        if not g:
            continue
        cpu.append((r["n"], g["cpu_ms"] / r["window_s"]))
        rss.append((r["n"], g["rss_kb"]))
        thr.append((r["n"], g["threads"]))
    k_cpu, b_cpu = _fit(cpu)
    k_rss, b_rss = _fit(rss)
    k_thr, b_thr = _fit(thr)
    return {"cpu_ms_per_viewer_s": k_cpu, "cpu_ms_s_at_0": b_cpu,
            "rss_kb_per_viewer": k_rss, "rss_kb_at_0": b_rss,
            "threads_per_viewer": k_thr, "threads_at_0": b_thr}


def f(v, fmt="%.1f"):
    return "n/a" if v is None else fmt % v


def markdown(res):
    m = res.get("meta", {})
    clip = m.get("clip", {})
    out = ["# gateway benchmark %s (%s, %s CPUs, git %s%s)" % (
        m.get("date"), m.get("host"), m.get("cpus"), m.get("git"),
        ", QUICK" if m.get("quick") else ""), "",
        "Clip %dx%d %d fps %d kbit/s H.264 High + Opus, GOP %d s (steady runs); "
        "window %g s; ramp %d ms." % (
            clip.get("width", 0), clip.get("height", 0), clip.get("fps", 0),
            clip.get("kbps", 0), m.get("gop_s", 0), m.get("window_s", 0),
            m.get("ramp_ms", 0)), ""]
    b = res.get("baseline", {}).get("gateway") or {}
    out.append("Baseline (N=0, path live): gateway %s %% core, RSS %s MB, %s threads." % (
        f(b.get("cpu_pct")), f((b.get("rss_kb") or 0) / 1024.0), b.get("threads")))
    out += ["", "| N | ready | gw CPU %core | CPU-ms/viewer/s (marginal) | gw RSS MB "
            "(KB/viewer) | threads (/viewer) | pkts/s/viewer v+a (min) | loss % (max) "
            "| video frames/s (min) | 1st KF ms p50/p95 | latency ms p50/p99 | client %core | camera %core "
            "| machine busy % | other load %core | limit |",
            "|" + "---|" * 16]
    for r in res.get("steady", []):
        g = r.get("gateway") or {}
        c = r.get("client") or {}
        cam = r.get("camera") or {}
        lat = r.get("latency") or {}
        out.append("| %d | %s/%d | %s | %s (%s) | %s (%s) | %s (%s) | %s + %s (%s) | %s (%s) | %s (%s) "
                   "| %s / %s | %s / %s | %s | %s | %s | %s | %s |" % (
                       r["n"], r.get("ready"), r["n"], f(g.get("cpu_pct")),
                       f(r.get("cpu_ms_per_viewer_s"), "%.2f"),
                       f(r.get("cpu_ms_per_viewer_s_marginal"), "%.2f"),
                       f((g.get("rss_kb") or 0) / 1024.0),
                       f(r.get("rss_kb_per_viewer"), "%.0f"), g.get("threads"),
                       f(r.get("threads_per_viewer"), "%.1f"),
                       f(r.get("video_pkts_s_per_viewer"), "%.0f"),
                       f(r.get("audio_pkts_s_per_viewer"), "%.0f"),
                       f(r.get("pkts_s_min"), "%.0f"),
                       f(r.get("loss_pct"), "%.2f"), f(r.get("loss_pct_max"), "%.2f"),
                       f(r.get("frames_s_per_viewer")), f(r.get("frames_s_min")),
                       f(r.get("first_kf_ms_p50"), "%.0f"),
                       f(r.get("first_kf_ms_p95"), "%.0f"),
                       f(lat.get("p50_ms"), "%.2f"), f(lat.get("p99_ms"), "%.2f"),
                       f(c.get("cpu_pct")), f(cam.get("cpu_pct")),
                       f(r.get("machine_busy_pct"), "%.0f"),
                       f(r.get("other_load_pct"), "%.0f"), r.get("limit")))
    s = res.get("slopes") or {}
    if s:
        out += ["", "Fitted over N (incl. 0): %s CPU-ms per viewer per second, "
                "%s KB RSS and %s threads per viewer." % (
                    f(s.get("cpu_ms_per_viewer_s"), "%.2f"),
                    f(s.get("rss_kb_per_viewer"), "%.0f"),
                    f(s.get("threads_per_viewer"), "%.1f"))]
    if res.get("ttff"):
        out += ["", "| time to first keyframe | viewers ready | 1st KF ms p50 / p95 "
                "| 1st RTP ms p50 | answer ms p50 |", "|---|---|---|---|---|"]
        for t in res["ttff"]:
            out.append("| live path, GOP %d s | %s/%d | %s / %s | %s | %s |" % (
                t["gop_s"], t.get("ready"), t["n"], f(t.get("first_kf_ms_p50"), "%.0f"),
                f(t.get("first_kf_ms_p95"), "%.0f"), f(t.get("first_rtp_ms_p50"), "%.0f"),
                f(t.get("answer_ms_p50"), "%.0f")))
        c = res.get("cold") or {}
        out.append("| cold on-demand path (GOP 1 s), %d runs | %d/%d | %s / max %s | | |" % (
            c.get("runs", 0), c.get("runs", 0) - c.get("failed", 0), c.get("runs", 0),
            f(c.get("first_kf_ms_p50"), "%.0f"), f(c.get("first_kf_ms_max"), "%.0f")))
    if res.get("join"):
        out += ["", "| join rate: viewers, ramp ms | offered /s | connected /s "
                "| all with a keyframe /s | ready | answer ms p50/p95 | DTLS ms p50 "
                "| 1st KF ms p50 |", "|---|---|---|---|---|---|---|---|"]
        for j in res["join"]:
            out.append("| %d, %d | %s | %s | %s | %s/%d | %s / %s | %s | %s |" % (
                j["n"], j["ramp_ms"], f(j.get("offered_per_s"), "%.0f")
                if j.get("offered_per_s") else "all at once",
                f(j.get("connected_per_s")), f(j.get("joins_per_s")), j.get("ready"), j["n"],
                f(j.get("answer_ms_p50"), "%.0f"), f(j.get("answer_ms_p95"), "%.0f"),
                f(j.get("dtls_ms_p50"), "%.0f"), f(j.get("first_kf_ms_p50"), "%.0f")))
    problems = res.get("gateway_log") or []
    if problems:
        out += ["", "Gateway log: %d CRITICAL/ERROR lines, first: `%s`" % (
            len(problems), problems[0])]
    return "\n".join(out) + "\n"


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    st = [r for r in res.get("steady", []) if r.get("gateway")]
    ns = [r["n"] for r in st]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.plot(ns, [r.get("cpu_ms_per_viewer_s") for r in st], "o-", label="total / N")
    a1.plot(ns, [r.get("cpu_ms_per_viewer_s_marginal") for r in st], "s--",
            label="(total - N=0 baseline) / N")
    a1.set_xlabel("viewers N")
    a1.set_ylabel("gateway CPU-ms per viewer per second")
    a1.set_ylim(bottom=0)
    a1.grid(alpha=0.3)
    a1.legend()
    lat = [(r["n"], r.get("latency") or {}) for r in st]
    lat = [(n, l) for n, l in lat if l.get("p50_ms") is not None]
    a2.plot([n for n, _ in lat], [l["p50_ms"] for _, l in lat], "o-", label="p50")
    a2.plot([n for n, _ in lat], [l["p99_ms"] for _, l in lat], "s--", label="p99")
    a2.set_xlabel("viewers N")
    a2.set_ylabel("residence latency in the gateway, ms")
    a2.set_ylim(bottom=0)
    a2.grid(alpha=0.3)
    a2.legend()
    m = res.get("meta", {})
    fig.suptitle("webrtc-gateway, %s, %s" % (m.get("host"), m.get("date")))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def check(res, n):
    """Reasons why the run at N=n does not show every viewer served."""
    bad = []
    runs = [r for r in res.get("steady", []) if r.get("n") == n]
    if not runs:
        return ["no steady run with N=%d" % n]
    r = runs[0]
    if r.get("ready") != n or r.get("failed"):
        bad.append("ready %s/%d, failed %s" % (r.get("ready"), n, r.get("failed")))
    if not r.get("pkts_s_min"):
        bad.append("a viewer got no packets in the window (min %s pkts/s)" % r.get("pkts_s_min"))
    elif (r.get("audio_pkts_s_per_viewer") or 0) <= 0:
        bad.append("no audio packets")
    fps = (res.get("meta", {}).get("clip") or {}).get("fps", 30)
    if (r.get("frames_s_min") or 0) < 0.9 * fps:
        bad.append("a viewer got %s video frames/s of %s" % (r.get("frames_s_min"), fps))
    if r.get("loss_pct_max") is None or r["loss_pct_max"] > 2.0:
        bad.append("loss %s %% (max over viewers)" % r.get("loss_pct_max"))
    lat = r.get("latency") or {}
    for v in lat.get("viewers", []):
        if not v.get("frames") or v.get("matched", 0) < 0.8 * v["frames"]:
            bad.append("latency: viewer port %s: %s of %s frames matched to camera frames" % (
                v.get("port"), v.get("matched"), v.get("frames")))
    if lat.get("p50_ms") is None:
        bad.append("no latency measured: %s" % lat.get("error", "no frames matched"))
    if not (r.get("gateway") or {}).get("cpu_ms"):
        bad.append("no gateway CPU measured")
    for t in res.get("ttff", []):
        if t.get("ready") != t.get("n"):
            bad.append("time-to-first-frame run %s: ready %s/%s" % (
                t["path"], t.get("ready"), t.get("n")))
    c = res.get("cold") or {}
    if c.get("failed"):
        bad.append("cold start failed %s times" % c["failed"])
    return bad


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        sys.exit("usage: report.py check RESULT.json N")
    with open(sys.argv[2]) as fh:
        result = json.load(fh)
    problems = check(result, int(sys.argv[3]))
    for p in problems:
        print("bench check: FAIL: " + p)
    if not problems:
        print("bench check: OK: N=%s, every viewer ready and served" % sys.argv[3])
    sys.exit(1 if problems else 0)
