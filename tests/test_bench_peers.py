"""bench/peers.py's own helpers: wrk's output read right, medians over rounds, a server's processes found.

The wrk outputs below are pasted from real runs of Debian's wrk 4.1.0 on this machine (the hub's
/v2 digits infer with a good body and with a 63-value one, its mnv2 at 32 connections, and a server that
answers after 1.5 s with --timeout 1s); nothing here needs wrk or MLServer.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.peers import binary_ceiling, duration_ms, medians, memory, parse_wrk, process_tree, targets

GOOD = """\
Running 1s test @ http://127.0.0.1:54777/v2/models/digits/infer
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.12ms    6.15ms  60.87ms   94.92%
    Req/Sec   738.00    239.84     1.34k    80.95%
  Latency Distribution
     50%    4.93ms
     75%    6.65ms
     90%    9.52ms
     99%   43.62ms
  1556 requests in 1.10s, 503.41KB read
Requests/sec:   1414.35
Transfer/sec:    457.58KB
"""

BAD_BODY = """\
Running 1s test @ http://127.0.0.1:54777/v2/models/digits/infer
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.57ms    5.50ms  46.73ms   96.26%
    Req/Sec     1.78k   305.56     2.02k    90.00%
  Latency Distribution
     50%  492.00us
     75%  568.00us
     90%  762.00us
     99%   36.56ms
  1768 requests in 1.00s, 464.60KB read
  Non-2xx or 3xx responses: 1768
Requests/sec:   1766.92
Transfer/sec:    464.32KB
"""

TIMEOUTS = """\
Running 3s test @ http://127.0.0.1:18766/slow
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  4 requests in 3.01s, 0.88KB read
  Socket errors: connect 0, read 0, write 0, timeout 4
Requests/sec:      1.33
Transfer/sec:     297.58B
"""

SLOW = (  # the hub's mnv2 JSON at 32 connections with wrk's default 2 s time-out: "1.62s " ends in a space
    "Running 3s test @ http://127.0.0.1:33353/v2/models/mnv2/infer\n  2 threads and 32 connections\n"
    "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   493.11ms  273.83ms   1.71s    79.59%\n"
    "    Req/Sec    30.02     17.03    70.00     59.18%\n  Latency Distribution\n     50%  449.14ms\n"
    "     75%  601.63ms\n     90%  786.56ms\n     99%    1.62s \n  152 requests in 3.05s, 341.70KB read\n"
    "  Socket errors: connect 0, read 0, write 0, timeout 7\nRequests/sec:     49.89\nTransfer/sec:    112.16KB\n")

USAGE = """\
Usage: wrk <options> <url>
  Options:
    -c, --connections <N>  Connections to keep open
    -d, --duration    <T>  Duration of test
"""


def test_a_run_is_read_with_its_percentiles_in_milliseconds():
    assert parse_wrk(GOOD) == {"req_per_s": 1414.35, "requests": 1556, "seconds": 1.1, "p50_ms": 4.93,
                               "p99_ms": 43.62, "non_2xx": 0, "socket_errors": 0}
    bad = parse_wrk(BAD_BODY)
    assert bad["p50_ms"] == pytest.approx(0.492) and bad["p99_ms"] == 36.56
    assert bad["non_2xx"] == 1768 and bad["socket_errors"] == 0


def test_socket_errors_are_summed_and_seconds_read():
    got = parse_wrk(TIMEOUTS)
    assert (got["socket_errors"], got["requests"], got["req_per_s"], got["seconds"]) == (4, 4, 1.33, 3.01)
    slow = parse_wrk(SLOW)
    assert (slow["p50_ms"], slow["p99_ms"], slow["socket_errors"], slow["req_per_s"]) == (449.14, 1620.0, 7, 49.89)


def test_durations_and_refusals():
    assert [duration_ms(t) for t in ("415.00us", "1.23ms", "2.00s", "1.50m")] == \
        [pytest.approx(0.415), 1.23, 2000.0, 90_000.0]
    for text in ("1.2 ms", "fast", "3d"):
        with pytest.raises(ValueError):
            duration_ms(text)
    with pytest.raises(ValueError, match="no Requests/sec"):
        parse_wrk(USAGE)  # what wrk prints when it refuses its arguments


def test_medians_over_rounds_sum_the_errors():
    runs = [parse_wrk(GOOD), parse_wrk(BAD_BODY), parse_wrk(TIMEOUTS)]
    got = medians(runs)
    assert (got["req_per_s"], got["p50_ms"], got["p99_ms"]) == (1414.35, 0.492, 36.56)
    assert (got["non_2xx"], got["socket_errors"], got["rounds"]) == (1768, 4, 3)


def test_a_servers_processes_and_their_memory_are_found():
    child = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "up\n"  # running Python now, not half-way through its exec
        assert process_tree(os.getpid())[0] == os.getpid() and child.pid in process_tree(os.getpid())
        got = memory(os.getpid())
        pids = [p["pid"] for p in got["processes"]]
        assert child.pid in pids and all(p["rss_mb"] > 0 and p["pss_mb"] > 0 for p in got["processes"])
        assert got["rss_mb"] == pytest.approx(sum(p["rss_mb"] for p in got["processes"]), abs=0.2)
        assert got["pss_mb"] <= got["rss_mb"]
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def _mnv2_report(json_rps: dict, binary: dict, invoke_ms: float, cores: int = 2, interpreters: int = 2) -> dict:
    """A report shaped as main() writes one, with mnv2 alone; figures as given, MLServer's beside."""
    load = {str(c): {"hub_json": {"req_per_s": json_rps[c], "p50_ms": 1000 / json_rps[c]},
                     "mlserver_json": {"req_per_s": 75.0, "p50_ms": 13.0},
                     "hub_binary": {"req_per_s": binary[c][0], "p50_ms": binary[c][1]},
                     "ratios": {"req_per_s": json_rps[c] / 75.0, "p50": 1000 / json_rps[c] / 13.0,
                                "binary_over_json": binary[c][0] / json_rps[c]}} for c in (1, 8, 32)}
    after = {"rss_mb": 150.0, "pss_mb": 120.0}
    return {"models": {"mnv2": {"load": load, "floor": {"invoke_ms": {"p50": invoke_ms}}}},
            "settings": {"hub": {"interpreters_per_model": interpreters}}, "machine": {"cpu_count": cores},
            "memory": {"hub": {"after_load": after, "during_load": after},
                       "mlserver": {"after_load": after, "during_load": after}},
            "ready_s": {"hub": 0.4, "mlserver": 0.9}}


def test_the_binary_ceiling_bounds_binary_by_the_invoke_and_the_cores():
    # The final full run of issue 17 (2 cores): JSON 99 / 178 / 169 req/s, invoke 6.92 ms, binary 124 / 254 / 249.
    report = _mnv2_report({1: 99.0, 8: 178.0, 32: 169.0}, {1: (124.0, 7.79), 8: (254.0, 31.0), 32: (249.0, 128.0)},
                          6.92)
    most = binary_ceiling(report, "mnv2")
    assert most == {"1": pytest.approx(1000 / 6.92 / 99, abs=1e-3), "8": pytest.approx(2000 / 6.92 / 178, abs=1e-3),
                    "32": pytest.approx(2000 / 6.92 / 169, abs=1e-3)}
    assert all(v < 3 for v in most.values())  # 3x binary over JSON was out of reach in that run
    got = {t["target"]: t for t in targets(report)}
    three = got["hub binary req/s >= 3x its JSON req/s for mnv2"]
    assert not three["met"] and three["not_met"] == ["mnv2 c1", "mnv2 c8", "mnv2 c32"]
    assert "1.46x / 1.62x / 1.71x at 1 / 8 / 32 connections" in three["detail"]
    proposed = got["(proposed instead) hub binary p50 at 1 connection <= 1.2x the invoke floor for mnv2"]
    assert proposed["met"] and proposed["detail"] == "7.79 vs 6.92 ms"
    # One core, or one interpreter, halves what 8 and 32 connections could reach; a slow binary path fails.
    assert binary_ceiling(_mnv2_report({1: 99.0, 8: 178.0, 32: 169.0}, {1: (1, 1), 8: (1, 1), 32: (1, 1)}, 6.92,
                                       cores=1), "mnv2")["8"] == pytest.approx(1000 / 6.92 / 178, abs=1e-3)
    slow = _mnv2_report({1: 99.0, 8: 178.0, 32: 169.0}, {1: (100.0, 9.0), 8: (200.0, 40.0), 32: (200.0, 160.0)}, 6.92)
    assert not {t["target"]: t for t in targets(slow)}[
        "(proposed instead) hub binary p50 at 1 connection <= 1.2x the invoke floor for mnv2"]["met"]
