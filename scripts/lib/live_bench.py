#!/usr/bin/env python3
"""scripts/bench live: pos-api's live pushes. 200 graphql-transport-ws subscribers (Python's
`websockets`, one connection each, terminalEvents of their own till); events shaped as
pos-host's relay publishes what plugins emit are produced with kcat at a steady rate, each
carrying the wall-clock nanosecond it was handed to the producer; each subscriber notes when it
received it. Reference, in the same run: the same events read straight from Kafka by a kcat
consumer (the bus's own latency, without pos-api). Also pos-api's memory per idle connection
and its CPU while idle with 200 sockets open.

usage: live_bench.py API_URL BOOTSTRAP API_PID [--rate 1000] [--seconds 10] [--subscribers 200]
"""
import argparse
import asyncio
import json
import os
import subprocess
import threading
import time
import uuid

import requests
from websockets.asyncio.client import connect


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def subscriber(url, token, terminal, latencies, ready):
    ws = await connect(url, subprotocols=["graphql-transport-ws"], open_timeout=30, max_queue=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer " + token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"type": "subscribe", "id": "t", "payload": {
        "query": "subscription($t: String!) { terminalEvents(terminalId: $t) { payload } }", "variables": {"t": terminal}}}))
    await ws.send(json.dumps({"type": "ping"}))
    while json.loads(await ws.recv())["type"] != "pong":
        pass
    ready.append(terminal)
    async for message in ws:
        received = time.time_ns()
        data = json.loads(message)
        if data.get("type") == "next":
            sent = json.loads(data["payload"]["data"]["terminalEvents"]["payload"])["emitted_ns"]
            latencies.append((received - sent) / 1e6)


def kafka_reference(bootstrap, latencies, stop):
    reader = subprocess.Popen(["kcat", "-C", "-b", bootstrap, "-t", "pos-events", "-o", "end", "-u", "-q", "-f", "%s\n",
                               "-X", "fetch.wait.max.ms=5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while not stop.is_set():
        line = reader.stdout.readline()
        if not line:
            break
        received = time.time_ns()
        try:
            latencies.append((received - json.loads(line)["payload"]["emitted_ns"]) / 1e6)
        except (ValueError, KeyError):
            pass
    reader.kill()


def produce(bootstrap, terminals, rate, seconds):
    writer = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", "pos-events", "-K", "\t", "-X", "linger.ms=0"], stdin=subprocess.PIPE, text=True)
    total = int(rate * seconds)
    start = time.monotonic()
    for index in range(total):
        due = start + index / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        terminal = terminals[index % len(terminals)]
        event = {"id": str(uuid.uuid4()), "type": "FRAUD_ALERT", "schema_version": 1, "time_ms": int(time.time() * 1000), "key": terminal,
                 "source": "fraud_detection", "payload": {"terminal_id": terminal, "rule_id": "bench", "severity": "LOW", "emitted_ns": time.time_ns()}}
        writer.stdin.write(terminal + "\t" + json.dumps(event) + "\n")
        writer.stdin.flush()
    writer.stdin.close()
    writer.wait()
    return total


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("api")
    parser.add_argument("bootstrap")
    parser.add_argument("pid", type=int)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--subscribers", type=int, default=200)
    args = parser.parse_args()
    token = requests.post(args.api + "/graphql", json={"query": 'mutation { login(username: "jane", password: "password123", terminalId: "BENCH-MGR") { token } }'},
                          timeout=30).json()["data"]["login"]["token"]
    terminals = ["BENCH-LIVE-%03d" % index for index in range(args.subscribers)]
    url = args.api.replace("http://", "ws://") + "/graphql"
    before = rss_kib(args.pid)
    latencies, ready = [], []
    tasks = [asyncio.create_task(subscriber(url, token, terminal, latencies, ready)) for terminal in terminals]
    while len(ready) < len(terminals):
        await asyncio.sleep(0.05)
    await asyncio.sleep(2)
    after = rss_kib(args.pid)
    idle_start = cpu_seconds(args.pid)
    await asyncio.sleep(5)
    idle_cpu = (cpu_seconds(args.pid) - idle_start) / 5
    reference, stop = [], threading.Event()
    reader = threading.Thread(target=kafka_reference, args=(args.bootstrap, reference, stop), daemon=True)
    reader.start()
    await asyncio.sleep(1)
    busy_start = cpu_seconds(args.pid)
    produced = await asyncio.to_thread(produce, args.bootstrap, terminals, args.rate, args.seconds)
    deadline = time.monotonic() + 15
    while len(latencies) < produced and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    busy_cpu = (cpu_seconds(args.pid) - busy_start) / args.seconds
    stop.set()
    print("live pushes: %d subscribers (graphql-transport-ws, one till each), %d events at %d/s through Kafka" % (len(terminals), produced, args.rate))
    print("| path | received | p50 ms | p99 ms | max ms | target |")
    print("|---|---|---|---|---|---|")
    print("| Kafka alone: kcat producer -> kcat consumer (reference) | %d | %.1f | %.1f | %.1f | - |" % (
        len(reference), percentile(reference, 0.5), percentile(reference, 0.99), max(reference or [float("nan")])))
    met = "met" if percentile(latencies, 0.99) <= 50 else "NOT reached"
    print("| emit -> pos-api -> subscriber | %d of %d | %.1f | %.1f | %.1f | p99 <= 50: %s |" % (
        len(latencies), produced, percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies or [float("nan")]), met))
    print("pos-api memory per idle connection: %.1f KiB (RSS %d -> %d KiB for %d connections)" % ((after - before) / len(terminals), before, after, len(terminals)))
    print("pos-api CPU: %.2f%% of a core idle with %d sockets, %.1f%% while pushing %d/s" % (idle_cpu * 100, len(terminals), busy_cpu * 100, args.rate))
    for task in tasks:
        task.cancel()


asyncio.run(main())
