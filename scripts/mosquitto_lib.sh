# Sourced by the scripts that start a private mosquitto (not run on its own).
#
# start_mosquitto BASE_CONF CONF LOG
#   Writes CONF as a "listener PORT 127.0.0.1" line followed by BASE_CONF
#   (which must not have a listener line), starts mosquitto in the
#   background and waits until its log says it is running. A port chosen
#   in advance can be taken by another process before mosquitto binds it:
#   mosquitto then exits with "Address already in use" and another port is
#   tried (8 attempts). Sets mosquitto_port and mosquitto_pid; returns 1
#   with the log on stderr when mosquitto fails for another reason.
#   MOSQUITTO_TRY_PORTS (space-separated) are tried first (tests use it to
#   check the retry with a port they hold).
#
# BASE_CONF should say "user root": started as root, mosquitto otherwise
# switches to the "mosquitto" user, which cannot enter the private (0700)
# temporary directories holding the certificates. Started as another user,
# mosquitto ignores the line and keeps running as that user.
start_mosquitto() {
  local base=$1 conf=$2 log=$3 attempt=0 candidate waited
  local -a preferred=(${MOSQUITTO_TRY_PORTS:-})
  while [ "$attempt" -lt 8 ]; do
    if [ "$attempt" -lt "${#preferred[@]}" ]; then
      candidate=${preferred[$attempt]}
    else
      candidate=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    fi
    attempt=$((attempt + 1))
    { echo "listener $candidate 127.0.0.1"; cat "$base"; } >"$conf"
    mosquitto -c "$conf" >"$log" 2>&1 &
    mosquitto_pid=$!
    waited=0
    while [ "$waited" -lt 100 ]; do
      if grep -q 'mosquitto version .* running' "$log"; then
        mosquitto_port=$candidate
        return 0
      fi
      kill -0 "$mosquitto_pid" 2>/dev/null || break
      sleep 0.1
      waited=$((waited + 1))
    done
    kill "$mosquitto_pid" 2>/dev/null || true
    wait "$mosquitto_pid" 2>/dev/null || true
    if ! grep -q 'Address already in use' "$log"; then
      echo "mosquitto did not start:" >&2
      cat "$log" >&2
      return 1
    fi
    echo "mosquitto: port $candidate is taken, trying another" >&2
  done
  echo "mosquitto found no free port in 8 attempts" >&2
  return 1
}
