#!/usr/bin/env python3
"""scripts/bench api: what an idle pos-host costs. Waits until the host has settled (its CPU
over 2 s below 5% of a core, at most 60 s), then measures for SECONDS: the host process's
CPU share of one core and RSS, each plugin worker's (its children named pos-plugin-worker),
and, for context, all of PostgreSQL's processes together (the host's polls reach them too). Read from
/proc, so no profiler disturbs it. Targets (issue 11): host <= 0.5% of a core, RSS <= 64 MB,
each worker <= 32 MB.

usage: idle_usage.py HOST_PID POSTMASTER_PID [SECONDS]
"""
import os
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
        except OSError:
            continue
    return found


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except OSError:
        return 0.0


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def name(pid):
    try:
        with open("/proc/%d/comm" % pid) as comm:
            return comm.read().strip()
    except OSError:
        return "?"


def main():
    host, postmaster = int(sys.argv[1]), int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    for _ in range(30):
        before = cpu_seconds(host)
        time.sleep(2)
        if (cpu_seconds(host) - before) / 2 < 0.05:
            break
    workers = [pid for pid in children(host) if name(pid).startswith("pos-plugin-work")]
    backends = children(postmaster)
    start = {pid: cpu_seconds(pid) for pid in [host] + workers + backends}
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began

    def share(pid):
        return 100 * (cpu_seconds(pid) - start.get(pid, 0.0)) / elapsed

    worker_cpu = sum(share(pid) for pid in workers)
    postgres_cpu = sum(share(pid) for pid in backends)
    host_cpu = share(host)
    host_rss = rss_mb(host)
    worker_rss = [rss_mb(pid) for pid in workers]
    print("idle pos-host with %d plugin workers, measured over %.0f s after the load (settled)" % (len(workers), elapsed))
    print("%-34s %-14s %-12s %s" % ("PROCESS", "CPU % OF CORE", "RSS MB", "TARGET"))
    print("%-34s %-14.2f %-12.1f %s" % ("pos-host", host_cpu, host_rss, "CPU <= 0.5%, RSS <= 64"))
    print("%-34s %-14.2f %-12s %s" % ("plugin workers (together / each)", worker_cpu, "/".join("%.0f" % r for r in worker_rss), "RSS <= 32 each"))
    print("%-34s %-14.2f %-12s %s" % ("PostgreSQL, all processes (ref.)", postgres_cpu, "-", "-"))
    print("idle host: %.2f%% of a core, RSS %.1f MB" % (host_cpu, host_rss))


if __name__ == "__main__":
    main()
