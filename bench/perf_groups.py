#!/usr/bin/env python3
"""Groups a `perf record` profile of one process by component (BENCHMARKS.md, issue 14).

Usage: bench/perf_groups.py PERF_DATA PID
"""
import collections
import re
import subprocess
import sys

data, pid = sys.argv[1], sys.argv[2]
out=subprocess.run(['perf','report','-i',data,'--pid',pid,'--no-children','--sort','dso,sym','--stdio','-g','none'],capture_output=True,text=True).stdout
cats=collections.OrderedDict([
 ('JSON parse (serde_json)', r'serde_json|serde_core|skip_to_escape|ignore_str|parse_str'),
 ('SCD2 apply (DuckDB)', r'duckdb|libstdc'),
 ('Parquet encode (snap, parquet, thrift)', r'snap::|parquet::|thrift'),
 ('Arrow batches', r'arrow_'),
 ('record hash (sha2)', r'sha2|Sha256|compress256'),
 ('allocator (malloc/free)', r'malloc|_int_free|unlink_chunk|cfree|_int_realloc|realloc|sysmalloc|memset|memcpy|memmove|__memcmp|pthread_mutex'),
 ('kernel: page faults', r'\[k\].*(fault|mm_|page|folio|pte|tlb|madvise|munmap|mmap|lru|zap|clear_page|rmqueue|memcg)'),
 ('kernel: network', r'\[k\].*(tcp|skb|sock|ip_|net|recv|send|loopback|__dev)'),
 ('kernel: files', r'\[k\].*(ext4|vfs|write|read|jbd2|fsync|file|iomap|filemap|block)'),
 ('kernel: other', r'\[k\]'),
 ('mapping (avesa_transform)', r'avesa_transform'),
 ('connector (avesa_connectors, chrono)', r'avesa_connectors|chrono'),
 ('HTTP (hyper, reqwest, tokio)', r'hyper|reqwest|tokio|mio|h2|http'),
 ('hash maps', r'hashbrown|hash_one|sip::|BTreeMap|btree'),
])
tot=collections.Counter(); other=collections.Counter()
for l in out.splitlines():
    m=re.match(r'\s+([\d.]+)%\s+(\S+)\s+(.*)',l)
    if not m: continue
    p=float(m.group(1)); rest=m.group(2)+' '+m.group(3)
    for c,pat in cats.items():
        if re.search(pat,rest): tot[c]+=p; break
    else: tot['other']+=p; other[m.group(3)[:90]]+=p
s=sum(tot.values())
for c,v in tot.most_common(): print(f'{v/s*100:5.1f}%  {c}')
print('--- other top'); 
for k,v in other.most_common(12): print(f'{v:5.2f} {k}')
