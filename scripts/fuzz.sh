#!/usr/bin/env bash
# Fuzzes PayFleet's parsers of outside bytes with libFuzzer (docs/fuzzing.md).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Builds the Fuzz/ package with --sanitize=fuzzer --sanitize=address, then runs each target
# (all of them by default) for the given time (default 60 s), starting from its committed seeds in
# Fuzz/Corpus/<target>/ with the tokens of Fuzz/Dictionaries/<target>.dict. Inputs libFuzzer finds interesting go to Fuzz/.work/<target>/ (never into
# the committed corpus). Prints the executions per target and exits non-zero if any target
# crashed, hung (-timeout), ran out of memory (-rss_limit_mb) or broke a checked property; the
# reproducer is left in Fuzz/Findings/<target>/ and the libFuzzer log next to it.
#
# Environment: PAYFLEET_FUZZ_SKIP_BUILD=1 reuses the last build. Targets run one after another
# (one process each): the machine has two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
all_targets=(order-request callback-record wechat-v2-callback wechat-v3-notification yungouos-callback leshouying-callback storepos-callback)
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${all_targets[@]}")
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
    echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2
    exit 2
fi
for target in "${targets[@]}"; do
    known=0
    for candidate in "${all_targets[@]}"; do
        if [[ "$candidate" == "$target" ]]; then known=1; fi
    done
    if [[ $known -eq 0 ]]; then
        echo "unknown target '$target'; targets: ${all_targets[*]}" >&2
        exit 2
    fi
done

if [[ "${PAYFLEET_FUZZ_SKIP_BUILD:-0}" != "1" ]]; then
    echo "==> building Fuzz/ (debug, --sanitize=fuzzer --sanitize=address)"
    swift build --package-path Fuzz -c debug --sanitize=fuzzer --sanitize=address
fi
binary="$(swift build --package-path Fuzz -c debug --sanitize=fuzzer --sanitize=address --show-bin-path)/PayFleetFuzz"
if [[ ! -x "$binary" ]]; then
    echo "no fuzz binary at $binary" >&2
    exit 1
fi

failed=()
summary=()
for target in "${targets[@]}"; do
    work="Fuzz/.work/$target"
    findings="Fuzz/Findings/$target"
    mkdir -p "$work" "$findings"
    log="$findings/libfuzzer.log"
    echo "==> $target: ${seconds} s"
    dictionary=()
    if [[ -f "Fuzz/Dictionaries/$target.dict" ]]; then
        dictionary=(-dict="Fuzz/Dictionaries/$target.dict")
    fi
    status=0
    # No LeakSanitizer (-detect_leaks=0 and ASAN_OPTIONS): at exit it reports 32 bytes that
    # swift-crypto's RSA key generation (BN_set_word in BoringSSLRSAPrivateKey(keySize:)) never
    # frees, once per process; a real per-input leak still ends the run through -rss_limit_mb.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" PAYFLEET_FUZZ_TARGET="$target" "$binary" "$work" "Fuzz/Corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$findings/" "${dictionary[@]}" \
        > "$log" 2>&1 || status=$?
    executions="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    coverage="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    result="ok"
    if [[ $status -ne 0 ]]; then
        artifact="$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //' || true)"
        result="FAILED (exit $status${artifact:+, reproducer $artifact})"
        failed+=("$target")
        grep -E "ERROR: libFuzzer|ERROR: AddressSanitizer|PayFleetFuzz finding|Fatal error|SUMMARY" "$log" | head -5 || true
    fi
    summary+=("$(printf '%-24s %10s executions %6s/s  cov %6s  %s' "$target" "${executions:-?}" "${rate:-?}" "${coverage:-?}" "$result")")
done

echo
echo "==> fuzzing summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "findings in: ${failed[*]} (reproducers and logs under Fuzz/Findings/)" >&2
    exit 1
fi
