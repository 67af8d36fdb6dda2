# Replays the requests proxy.py logged, in order, on chdb (the embedded ClickHouse engine
# of a current release) and compares each answer with the logged server's: the same
# statements accepted or refused, the same rows (in order where the query orders them).
# RowBinary inserts are replayed through the file() table function with the target
# table's column types. Exits 1 if any request was answered otherwise.
import base64, json, sys, tempfile, urllib.parse
import chdb
from chdb import session
s = session.Session(tempfile.mkdtemp())
print("chdb", chdb.__version__, s.query("SELECT version()", "CSV").data().strip())
ok = bad = mism = 0
fails = []
structs = {}
for n, line in enumerate(open(sys.argv[1])):
    r = json.loads(line)
    u = urllib.parse.urlparse(r["path"])
    params = dict(urllib.parse.parse_qsl(u.query))
    body = base64.b64decode(r["body"])
    settings = {k: v for k, v in params.items() if k not in ("query", "database", "default_format")}
    q = params.get("query")
    try:
        for k, v in settings.items():
            s.query(f"SET {k} = {v}")
        if q and q.upper().startswith("INSERT") and "FORMAT RowBinary" in q:
            head = q[: q.index("FORMAT RowBinary")].strip()
            table = head.split()[2]
            cols = [c.strip() for c in head[head.index("(") + 1 : head.rindex(")")].split(",")]
            desc = {row[0]: row[1] for row in json.loads(s.query(f"DESCRIBE TABLE {table}", "JSONCompact").data())["data"]}
            struct = ", ".join(f"{c} {desc[c]}" for c in cols)
            path = tempfile.mktemp(suffix=".bin")
            open(path, "wb").write(body)
            s.query(f"{head} SELECT * FROM file('{path}', RowBinary, '{struct}')")
            out = ""
        else:
            sql = q if q and not body else body.decode()
            if q and body:
                sql = q + "\n" + body.decode()
            res = s.query(sql, "JSONCompact" if "FORMAT" not in sql.upper() else "CSV")
            out = res.data()
        if r["status"] != 200:
            fails.append((n, "accepted by chdb, refused by the logged server", sql[:200] if 'sql' in dir() else q))
            bad += 1
            continue
        ok += 1
        if out and r["out"].strip().startswith("{") and "version()" not in sql:
            a = json.loads(r["out"])["data"]
            b = json.loads(out)["data"]
            if "ORDER BY" not in sql.upper():
                a, b = sorted(map(json.dumps, a)), sorted(map(json.dumps, b))
            if a != b:
                mism += 1
                if mism <= 5:
                    fails.append((n, "different answer", (sql[:300], a[:3], b[:3])))
    except Exception as e:
        if r["status"] == 200:
            bad += 1
            if bad <= 10:
                fails.append((n, "refused by chdb", (str(e)[:300], (q or body.decode(errors='replace'))[:300])))
        else:
            ok += 1
print(f"{ok} requests answered alike in kind, {bad} not, {mism} different answers")
for f in fails[:15]:
    print(f)
sys.exit(1 if bad or mism else 0)
