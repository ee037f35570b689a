#!/usr/bin/env python3
"""Summarises a benchmark profile by process (thread group), then by shared object and
by function inside the server, Postgres, the generator and the peer. perf's own
reports sort by thread name, and the server's and the generator's worker threads are
all called tokio-rt-worker; grouping by pid and the binary a sample ran in tells them
apart. Input: `perf script -F comm,pid,tid,time,ip,sym,dso` (scripts/profile.sh writes
it as script.txt). With --after-restart, only the samples from the restarted server's
first sample to its last (B6's reconnect storm and catch-up).
    python3 scripts/profile-summary.py OUT/script.txt [--after-restart]"""
import collections, re, sys
lines = open(sys.argv[1], errors='replace').read().splitlines()
# With --after-restart (and `time` in the script): only the samples from the restarted
# server's first sample to its last, i.e. B6's reconnect storm and catch-up.
window = '--after-restart' in sys.argv
samples = []
names = {}
for ln in lines:
    # format: comm pid/tid  ip sym (dso)
    m = re.match(r'^\s*(.+?)\s+(\d+)/(\d+)\s+(?:([\d.]+):\s+)?(.*)$', ln)
    if not m: continue
    comm, pid, tid, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(5)
    t = float(m.group(4)) if m.group(4) else 0.0
    dm = re.search(r'\(([^()]*)\)\s*$', rest)
    dso = dm.group(1) if dm else '?'
    sym = rest[:dm.start()].strip() if dm else rest
    sym = re.sub(r'^[0-9a-f]+\s+', '', sym)
    sym = re.sub(r'\+0x[0-9a-f]+$', '', sym)
    samples.append((comm, pid, tid, dso, sym, t))
    if pid == tid: names[pid] = comm
if window:
    starts = {}
    for c, pid, tid, dso, sym, t in samples:
        if dso.endswith('ferry-server'):
            lo, hi = starts.get(pid, (t, t))
            starts[pid] = (min(lo, t), max(hi, t))
    lo, hi = max(starts.values())
    samples = [x for x in samples if lo <= x[5] <= hi]
    print(f'# window: the restarted server\'s first to last sample, {hi - lo:.1f} s')
total = len(samples)
dsos = collections.defaultdict(set)
for c, pid, tid, dso, sym, t in samples:
    dsos[pid].add(dso.split('/')[-1])
def group(pid, comm):
    n = names.get(pid, comm)
    if 'ferry-server' in dsos[pid]: return 'ferry-server'
    if 'ferry-bench' in dsos[pid]: return 'ferry-bench (generator)'
    if 'node' in dsos[pid]: return 'node (peer)'
    if 'postgres' in dsos[pid]: return 'postgres (all backends)'
    if pid == 0: return 'idle (swapper)'
    if n.startswith('postgres') or comm == 'postgres': return 'postgres (all backends)'
    if 'ferry-server' in n: return 'ferry-server'
    if 'ferry-bench' in n: return 'ferry-bench (generator)'
    if n in ('node', 'MainThread') or 'node' in n: return 'node (peer)'
    return 'other: ' + n
by = collections.Counter(); sub = collections.defaultdict(list)
for s in samples:
    g = group(s[1], s[0]); by[g] += 1; sub[g].append(s)
print(f'# {total} samples, every CPU, cpu-clock at 499 Hz (scripts/profile.sh)')
print('## share of all samples, by process')
for g, n in by.most_common():
    print(f'{100*n/total:6.2f}%  {g}')
for g in ('ferry-server', 'postgres (all backends)', 'ferry-bench (generator)', 'node (peer)'):
    ss = sub.get(g)
    if not ss: continue
    n = len(ss)
    print(f'\n## {g}: {100*n/total:.2f}% of all samples; by shared object (share of its own)')
    for d, k in collections.Counter(s[3].split('/')[-1] for s in ss).most_common(6):
        print(f'{100*k/n:6.2f}%  {d}')
    print(f'## {g}: top functions (share of its own)')
    for f, k in collections.Counter((s[4], s[3].split('/')[-1]) for s in ss).most_common(25):
        print(f'{100*k/n:6.2f}%  {f[0][:110]}  [{f[1]}]')
