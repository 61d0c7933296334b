"""The delta of tollguard_decision_latency_seconds between two /metrics scrapes, as one table row.

    histogram_delta.py BEFORE AFTER LABEL... -> LABEL... decided mean_us p50_us p90_us p99_us p999_us max_us

Each quantile is the upper bound of the bucket that holds it (buckets are 1 us x 2^n), so "p99 256" means
99 % of this step's decisions took at most 256 us. Used by bench/guard/latency.sh and bench/decide/run.sh.
"""
import re, sys

def load(path):
    buckets, count, total = {}, 0.0, 0.0
    for line in open(path):
        m = re.match(r'tollguard_decision_latency_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets[m.group(1)] = float(m.group(2))
        elif line.startswith("tollguard_decision_latency_seconds_count "):
            count = float(line.split()[1])
        elif line.startswith("tollguard_decision_latency_seconds_sum "):
            total = float(line.split()[1])
    return buckets, count, total

(b0, c0, s0), (b1, c1, s1) = load(sys.argv[1]), load(sys.argv[2])
n = c1 - c0
bounds = sorted(b1, key=lambda le: float("inf") if le == "+Inf" else float(le))

def upper(q):
    # The upper bound of the bucket holding the q-quantile of this step's decisions.
    for le in bounds:
        if n and b1[le] - b0.get(le, 0.0) >= q * n:
            return le if le == "+Inf" else "%g" % (float(le) * 1e6)
    return "-"

mean = "%.1f" % ((s1 - s0) / n * 1e6) if n else "-"
labels = " ".join("%9s" % a for a in sys.argv[3:])
print("%s %9d %9s %9s %9s %9s %9s %9s" % (labels, n, mean, upper(0.5), upper(0.9), upper(0.99), upper(0.999), upper(1.0)))
