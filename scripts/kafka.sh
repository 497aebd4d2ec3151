#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) on 127.0.0.1,
# for development, tests and CI. Jars come from Maven Central (scripts/kafka/pom.xml) into a
# cache that survives between runs; data and logs live under one work folder.
#
#   scripts/kafka.sh start          start (or find running) and wait until it answers metadata
#   scripts/kafka.sh stop [--clean] stop cleanly (SIGTERM, then SIGKILL after a deadline);
#                                   --clean also removes the work folder
#   scripts/kafka.sh status         running or not, pid, port, RSS
#   scripts/kafka.sh logs [-f] [N]  last N (default 100) lines of the broker log, or follow it
#
# Environment:
#   KAFKA_PORT             client port (default 19092; never 9092, so a user's broker is safe)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT + 1)
#   KAFKA_WORK_DIR         data, logs and pid (default <repo>/.kafka)
#   KAFKA_CACHE_DIR        jar cache (default ~/.cache/driftwarden/kafka-<version>)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 120)
#   KAFKA_STOP_TIMEOUT     seconds to wait for a clean stop before SIGKILL (default 30)
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms256m -Xmx768m)
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$REPO_DIR/scripts/kafka/pom.xml"
PROBE="$REPO_DIR/scripts/kafka/probe.py"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"

PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
WORK_DIR="${KAFKA_WORK_DIR:-$REPO_DIR/.kafka}"
CACHE_DIR="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/driftwarden/kafka-$KAFKA_VERSION}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"

LIBS_DIR="$CACHE_DIR/libs"
DATA_DIR="$WORK_DIR/data"
LOG_DIR="$WORK_DIR/logs"
PID_FILE="$WORK_DIR/broker.pid"
PROPS="$WORK_DIR/server.properties"
LOG4J_CONF="$WORK_DIR/log4j2.properties"
BOOTSTRAP="127.0.0.1:$PORT"

say() { echo "kafka.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

python_bin() {
  if [[ -x "$REPO_DIR/.venv/bin/python" ]]; then echo "$REPO_DIR/.venv/bin/python"; else echo python3; fi
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

rss_mb() {
  awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

fetch_jars() {
  if [[ -f "$LIBS_DIR/.complete" ]]; then
    return
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars; install it (e.g. apt-get install maven)"
  command -v java >/dev/null || die "Java 17+ is needed to run the broker; install a JDK"
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR"
  rm -rf "$LIBS_DIR"
  mkdir -p "$LIBS_DIR"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$LIBS_DIR" >"$CACHE_DIR/mvn.log" 2>&1; then
    tail -n 50 "$CACHE_DIR/mvn.log" >&2
    die "mvn could not resolve the Kafka jars (log: $CACHE_DIR/mvn.log)"
  fi
  touch "$LIBS_DIR/.complete"
}

write_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  cat >"$PROPS" <<EOF
# Written by scripts/kafka.sh: a single combined broker + controller on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
EOF
  cat >"$LOG4J_CONF" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $LOG_DIR/server.log
appender.file.filePattern = $LOG_DIR/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

java_args() {
  # shellcheck disable=SC2206
  JAVA_ARGS=(java $HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$LOG_DIR"
    -cp "$LIBS_DIR/*")
}

java_cmd() {
  java_args
  "${JAVA_ARGS[@]}" "$@"
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return
  fi
  local cluster_id
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/format.log")"
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" --standalone \
    >>"$LOG_DIR/format.log" 2>&1 || { cat "$LOG_DIR/format.log" >&2; die "formatting KRaft storage failed"; }
}

show_failure() {
  say "last 50 lines of $LOG_DIR/server.log:"
  tail -n 50 "$LOG_DIR/server.log" >&2 2>/dev/null || true
  if [[ -s "$LOG_DIR/stdout.log" ]]; then
    say "last 20 lines of $LOG_DIR/stdout.log:"
    tail -n 20 "$LOG_DIR/stdout.log" >&2
  fi
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    say "already running (pid $pid, RSS $(rss_mb "$pid") MB)"
    echo "bootstrap=$BOOTSTRAP"
    return
  fi
  if port_in_use "$PORT"; then
    die "port $PORT on 127.0.0.1 is taken by another process; set KAFKA_PORT to a free port"
  fi
  if port_in_use "$CONTROLLER_PORT"; then
    die "controller port $CONTROLLER_PORT on 127.0.0.1 is taken; set KAFKA_CONTROLLER_PORT"
  fi
  fetch_jars
  local started_ns
  started_ns="$(date +%s%N)"
  write_config
  format_storage
  java_args
  # setsid: the broker outlives this script and is not hit by the caller's Ctrl-C.
  setsid nohup "${JAVA_ARGS[@]}" kafka.Kafka "$PROPS" >"$LOG_DIR/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT)) py
  py="$(python_bin)"
  until "$py" "$PROBE" "$BOOTSTRAP" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      show_failure
      die "the broker exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      show_failure
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      die "the broker did not answer a metadata request within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  local ready_s
  ready_s="$(awk -v a="$started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
  say "Apache Kafka $KAFKA_VERSION ready in ${ready_s}s (pid $pid, RSS $(rss_mb "$pid") MB, work dir $WORK_DIR)"
  echo "start_to_ready_s=$ready_s rss_mb=$(rss_mb "$pid")"
  echo "bootstrap=$BOOTSTRAP"
}

cmd_stop() {
  local clean=0 pid
  [[ "${1:-}" == "--clean" ]] && clean=1
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        say "broker did not stop within ${STOP_TIMEOUT}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    say "stopped (pid $pid)"
  else
    say "not running"
  fi
  rm -f "$PID_FILE"
  if ((clean)); then
    rm -rf "$WORK_DIR"
    say "removed $WORK_DIR"
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running pid=$pid rss_mb=$(rss_mb "$pid") bootstrap=$BOOTSTRAP"
  else
    echo "stopped"
    return 3
  fi
}

cmd_logs() {
  local follow=0 lines=100
  for arg in "$@"; do
    case "$arg" in
      -f) follow=1 ;;
      *[!0-9]*) die "logs takes [-f] [N]" ;;
      *) lines="$arg" ;;
    esac
  done
  [[ -f "$LOG_DIR/server.log" ]] || die "no broker log at $LOG_DIR/server.log"
  if ((follow)); then tail -n "$lines" -f "$LOG_DIR/server.log"; else tail -n "$lines" "$LOG_DIR/server.log"; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
