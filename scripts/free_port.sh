# shellcheck shell=bash
# free_port: prints a loopback port nobody listens on (bash's /dev/tcp connect fails), tried at
# random in 20000-59999 up to 200 times. Sourced by scripts/demo.sh and scripts/demo_arena.sh.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
