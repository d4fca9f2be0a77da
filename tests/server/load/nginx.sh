#!/usr/bin/env bash
# Two `bitflash serve` replicas behind nginx with consistent hashing on the X-Conversation-Id header
# (docs/SERVER.md, "Several replicas"): 32 conversations of 3 turns through nginx, every turn after the
# first must reuse state (timings.cache_n), and both replicas must have served some.
# BF_NGINX_BALANCE='' (round robin) is the control: conversations then miss their state and it fails.
# Usage: tests/server/load/nginx.sh [path/to/bitflash]   Needs nginx (Debian's nginx-light), node, `npm ci --prefix tests/server/load`.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../../.." && pwd)"
BIN="${1:-$SRC/build/bitflash}"
WORK="$(mktemp -d /tmp/bitflash_nginx.XXXXXX)"
PIDS=()
NGINX_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v nginx >/dev/null || { echo "nginx.sh: nginx is not installed (apt-get install nginx-light)"; exit 1; }
[ -d "$HERE/node_modules/openai" ] || { echo "nginx.sh: run 'npm ci --prefix $HERE' first"; exit 1; }

node "$HERE/make_model.mjs" "$WORK/tok" "$SRC" || exit 1
"$BIN" convert --random "$WORK/tok/config.json" --tokenizer-dir "$WORK/tok" -o "$WORK/tiny.gguf" -q || exit 1

port_of() {  # waits for "listening on http://127.0.0.1:PORT" in a log and for /health
  local log="$1" port=""
  for _ in $(seq 1 300); do
    port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)"
    if [ -n "$port" ] && node -e "fetch('http://127.0.0.1:$port/health').then(r=>process.exit(r.status===200?0:1)).catch(()=>process.exit(1))"; then
      echo "$port"; return 0
    fi
    sleep 0.2
  done
  return 1
}
PORTS=()
for i in 0 1; do
  "$BIN" serve -m "$WORK/tiny.gguf" --host 127.0.0.1 --port 0 -np 4 -c 1024 -t 1 2>"$WORK/replica$i.log" &
  PIDS+=($!)
done
for i in 0 1; do
  p="$(port_of "$WORK/replica$i.log")" || { echo "nginx.sh: replica $i did not start"; cat "$WORK/replica$i.log"; exit 1; }
  PORTS+=("$p")
done
LB_PORT="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream bitflash {
    ${BF_NGINX_BALANCE-hash \$http_x_conversation_id consistent;}
    server 127.0.0.1:${PORTS[0]};
    server 127.0.0.1:${PORTS[1]};
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / {
      proxy_pass http://bitflash;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
CONF
chmod -R a+rwx "$WORK"  # nginx's worker may run as another user
nginx -p "$WORK/nginx" -c "$WORK/nginx.conf" -g 'daemon off; master_process off;' &
NGINX_PID=$!
for _ in $(seq 1 100); do
  node -e "fetch('http://127.0.0.1:$LB_PORT/health').then(r=>process.exit(r.status===200?0:1)).catch(()=>process.exit(1))" && break
  sleep 0.1
done
echo "nginx.sh: nginx on $LB_PORT -> replicas ${PORTS[*]}"
status=0
timeout 900 node "$HERE/conversation.mjs" "http://127.0.0.1:$LB_PORT/v1" 32 3 8 || status=1
for p in "${PORTS[@]}"; do
  n="$(node -e "fetch('http://127.0.0.1:$p/metrics').then(r=>r.text()).then(t=>console.log((t.match(/^bitflash:requests_finished_total (\d+)/m)||[0,0])[1]))")"
  echo "nginx.sh: replica on $p finished $n requests"
  [ "${n:-0}" -gt 0 ] || { echo "nginx.sh: replica $p got no conversation"; status=1; }
done
[ $status -eq 0 ] && echo "nginx.sh: PASS" || echo "nginx.sh: FAIL"
exit $status
