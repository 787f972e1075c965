# Sourced by scripts/demo.sh and the benchmarks: a coordinator and N workers on 127.0.0.1.
# cluster_start BIN RUNDIR WORKERS [extra --set flags...] starts them (free port, certificates in
# run/certs) and waits until every worker has registered; afterwards `phalanx_args` holds the
# arguments that reach this cluster. cluster_stop kills exactly the pids it started; callers
# install it as their EXIT trap so it runs on success, failure and Ctrl-C.

cluster_pids=()
phalanx_args=()

# release_binary [PATH]: prints PATH, or builds the release `phalanx` and prints its path.
release_binary() {
    if [ -n "${1:-}" ]; then
        echo "$1"
        return
    fi
    swift build -c release --product phalanx >/dev/null
    echo "$(swift build -c release --show-bin-path)/phalanx"
}

cluster_stop() {
    for pid in "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${cluster_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    cluster_pids=()
}

cluster_start() {
    local bin=$1 run=$2 count=$3
    shift 3
    local workers=() name
    for name in $(seq -f "w%g" 1 "$count"); do workers+=("$name:worker"); done
    bash scripts/gen-certs.sh run/certs demo coordinator:coordinator "${workers[@]}" client:client admin:admin >/dev/null

    phalanx_args=(--config cluster.conf --set tls.dir=run/certs "$@")
    # Each run keeps its own task ledger, so one run's tasks never reappear in the next.
    "$bin" coordinator "${phalanx_args[@]}" --set coordinator.port=0 --set coordinator.data_dir="$run/coordinator" \
        --set metrics.coordinator_address="${PHALANX_METRICS_ADDRESS:-127.0.0.1:0}" --metrics-port-file "$run/metrics-port" \
        --port-file "$run/port" 2>"$run/coordinator.log" &
    cluster_pids+=($!)
    for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
    if [ ! -s "$run/port" ]; then
        echo "the coordinator did not start; see $run/coordinator.log" >&2
        tail -5 "$run/coordinator.log" >&2
        return 1
    fi
    phalanx_args+=(--set coordinator.port="$(cat "$run/port")")

    for name in $(seq -f "w%g" 1 "$count"); do
        "$bin" worker "${phalanx_args[@]}" --name "$name" --set worker.data_dir="$run/workers" \
            --metrics-port-file "$run/$name.metrics-port" 2>"$run/$name.log" &
        cluster_pids+=($!)
    done
    local registered=0
    for _ in $(seq 100); do
        registered=$("$bin" status "${phalanx_args[@]}" --json 2>/dev/null | grep -o '"name"' | wc -l || true)
        [ "$registered" -ge "$count" ] && return 0
        sleep 0.1
    done
    echo "only $registered of $count workers registered; see the logs in $run" >&2
    return 1
}
