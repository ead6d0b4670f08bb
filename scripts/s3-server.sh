# Sourced by scripts that need the S3 test server: `start_s3_server BUCKET` installs moto into .venv-s3
# (once), starts it on a free loopback port, creates BUCKET, exports the AWS variables that point cajal at
# it, and stops it when the calling script exits.

start_s3_server() {
    local bucket=$1
    if [ ! -x .venv-s3/bin/moto_server ]; then
        echo "installing the S3 test server (moto) into .venv-s3"
        python3 -m venv .venv-s3
        .venv-s3/bin/pip install --quiet 'moto[server]'
    fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p target
    .venv-s3/bin/moto_server -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
    S3_SERVER_PID=$!
    trap 'kill "$S3_SERVER_PID" 2>/dev/null || true' EXIT
    python3 - "$port" "$bucket" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(200):
    try:
        urllib.request.urlopen(url, timeout=1)
        break
    except Exception:
        time.sleep(0.05)
urllib.request.urlopen(urllib.request.Request(f"{url}/{sys.argv[2]}", method="PUT"), timeout=5)
PY
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
}
