#!/usr/bin/env bash
# libFuzzer harnesses of every parser that reads bytes from outside (fuzz/README.md says what each one covers).
#
#   scripts/fuzz.sh --list                         the targets, one per line
#   scripts/fuzz.sh TARGET [--seconds N] [-- LIBFUZZER-FLAGS...]
#                                                  builds TARGET and fuzzes it for N seconds (default 60) from its
#                                                  committed corpus; exits 1 with the crashing input's path when
#                                                  libFuzzer finds a crash, a hang (-timeout) or an OOM (-rss_limit_mb)
#   scripts/fuzz.sh TARGET --cpu-seconds N         the same, stopped after N seconds of CPU time instead (a shared
#                                                  machine): what the long runs in fuzz/README.md used
#   scripts/fuzz.sh TARGET --build                 builds only (prints the binary's path)
#   scripts/fuzz.sh --smoke [--seconds N]          every target for N seconds (default 10): what CI runs
#
# Why swiftc and not SwiftPM: SwiftPM renames an executable target's `main`, so an entry point that only defines
# LLVMFuzzerTestOneInput does not link. So each of our modules a harness needs is compiled here with
# `-sanitize=fuzzer,address` (coverage + ASan on our code), from the same sources SwiftPM builds, and the
# harness (fuzz/targets/NAME.swift) links against them. Third-party modules (swift-crypto, swift-nio)
# are not instrumented: their objects come from the package's own debug build (`swift build`), which
# this script runs for just those targets when they are missing.
#
# Corpus: fuzz/corpus/NAME is the committed seed corpus (read-only here); new inputs libFuzzer finds go to
# .build/fuzz/corpus/NAME, which is kept between runs. Crashes go to .build/fuzz/crashes/NAME/.
set -euo pipefail
shopt -s extglob
cd "$(dirname "$0")/.."
root=$PWD

# TARGET -> "our modules in dependency order | other sources compiled into the harness (fuzz/support and the
# daemon's files a parser lives in) | third-party modules". A module is all of Sources/NAME, or NAME=PATH,PATH: only
# those files or folders of it (paths inside Sources/NAME), for a parser that lives in a module whose other files
# need what a harness cannot build (BLAS, NIO): the files named hold every type the parser uses, each defined once.
S=fuzz/support
E=SentimentEngine=Quantization/Precision.swift,LoRA/LoRAConfig.swift
T=SentimentTraining=TrainingRecipe.swift,TrainingError.swift
declare -A target_modules=(
    [label-files]="SentimentCore|$S/FuzzSupport.swift|"
    [manifest]="SentimentCore|$S/FuzzSupport.swift|"
    [safetensors]="SentimentCore SentimentCheckpoint|$S/FuzzSupport.swift $S/CheckpointSupport.swift|"
    [pytorch-zip]="SentimentCore SentimentCheckpoint|$S/FuzzSupport.swift $S/CheckpointSupport.swift|"
    [model-config]="SentimentCore SentimentCheckpoint|$S/FuzzSupport.swift|"
    [tokenizer-files]="SentimentCore SentimentCheckpoint SentimentTokenizers|$S/FuzzSupport.swift|"
    [bpe-encode]="SentimentCore SentimentCheckpoint SentimentTokenizers|$S/FuzzSupport.swift $S/TokenizerSupport.swift|"
    [wordpiece-encode]="SentimentCore SentimentCheckpoint SentimentTokenizers|$S/FuzzSupport.swift $S/TokenizerSupport.swift|"
    [jsonrpc]="SentimentCore SentimentProtocol|$S/FuzzSupport.swift Sources/SentimentService/Server/LineFrameDecoder.swift|NIOCore"
    [hub-json]="SentimentCore SentimentHub|$S/FuzzSupport.swift|"
    [sentimentd-conf]="SentimentCore SentimentCheckpoint $E $T SentimentService=Config|$S/FuzzSupport.swift|Logging TOMLKit"
    [open-inference]="SentimentCore SentimentOpenInference|$S/FuzzSupport.swift|"
)
# ASAN_OPTIONS of one target. sentimentd-conf: TOMLKit's C wrapper hands Swift strdup'ed and malloc'ed buffers it
# never frees (tableGetKeys for every table iterated, tableConvertToTOML), a leak of the dependency on every parse,
# which LeakSanitizer would report as this target's crash on its first input; leak detection stays on elsewhere.
declare -A target_asan=(
    [sentimentd-conf]="detect_leaks=0"
)
# Third-party modules -> the SwiftPM targets whose objects they need (their own dependencies included).
declare -A thirdparty_objects=(
    [Crypto]="Crypto CryptoBoringWrapper CCryptoBoringSSL CCryptoBoringSSLShims"
    [NIOCore]="NIOCore NIOConcurrencyHelpers CNIOAtomics _NIODataStructures _NIOBase64 CNIOLinux CNIODarwin CNIOWindows CNIOWASI CNIOOpenBSD CNIOFreeBSD Atomics _AtomicsShims DequeModule ContainersPreview InternalCollectionsUtilities"
    [Logging]="Logging"
    [TOMLKit]="TOMLKit CTOML"
)
# Libraries a third-party module's objects need at link time (TOMLKit wraps toml++, C++ with exceptions).
declare -A thirdparty_libraries=(
    [TOMLKit]="-lstdc++"
)

targets() { printf '%s\n' "${!target_modules[@]}" | sort; }

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

swiftc=${SWIFTC:-swiftc}
out=$root/.build/fuzz
mkdir -p "$out/obj"

# The package's debug build directory (third-party objects and .swiftmodule files): SwiftPM's .build/debug link
# when there is one (asking `swift build` would wait for a build of the package that holds its lock), else asked.
pm_bin() {
    if [[ -z ${pm_bin_cache:-} ]]; then
        if [[ -d $root/.build/debug ]]; then pm_bin_cache=$(cd "$root/.build/debug" && pwd -P)
        else pm_bin_cache=$(swift build --show-bin-path); fi
    fi
    echo "$pm_bin_cache"
}

# Makes sure the package's debug build has the given SwiftPM targets.
ensure_thirdparty() {
    local bin; bin=$(pm_bin)
    local missing=()
    for t in "$@"; do [[ -f $bin/Modules/$t.swiftmodule || -d $bin/$t.build ]] || missing+=("$t"); done
    for t in "${missing[@]}"; do swift build --target "$t" >&2; done
}

# Flags that make the third-party modules importable: their .swiftmodule files and the C module maps.
thirdparty_flags() {
    local bin; bin=$(pm_bin)
    echo "-I $bin/Modules"
    local m
    while IFS= read -r m; do echo "-Xcc -fmodule-map-file=$m"; done < <(
        find "$bin" -maxdepth 2 -name module.modulemap
        find "$root/.build/checkouts" -path '*/Sources/*/include/module.modulemap' 2>/dev/null)
}

thirdparty_objects_of() {
    local bin; bin=$(pm_bin)
    local t
    for dep in "$@"; do
        for t in ${thirdparty_objects[$dep]}; do
            [[ -d $bin/$t.build ]] && find "$bin/$t.build" -name '*.o'
        done
    done | sort -u
}

# The Swift files of one of our modules as a target names it: NAME (all of Sources/NAME) or NAME=PATH,PATH.
module_sources() {
    local name=${1%%=*}
    if [[ $1 != *=* ]]; then find "Sources/$name" -name '*.swift' | sort; return; fi
    local parts p; IFS=',' read -r -a parts <<<"${1#*=}"
    for p in "${parts[@]}"; do
        [[ -e Sources/$name/$p ]] || { echo "fuzz.sh: Sources/$name/$p does not exist (scripts/fuzz.sh's target list)" >&2; exit 2; }
        find "Sources/$name/$p" -name '*.swift'
    done | sort
}

# Compiles one of our modules (whole-module, instrumented) into DIR unless its object is newer than its sources and
# the modules it imports (the objects before it in the target's list) and was built from the same files; after a
# change of the flags here, `rm -rf .build/fuzz/obj`.
build_module() {   # ITEM DIR [OBJECTS OF THE MODULES BEFORE IT...]
    local item=$1 dir=$2; shift 2
    local name=${item%%=*}
    local srcs; mapfile -t srcs < <(module_sources "$item")
    local obj=$dir/$name.o
    if [[ -f $obj && $(cat "$obj.sources" 2>/dev/null) == "${srcs[*]}" && -z $(find "${srcs[@]}" -newer "$obj") ]]; then
        local stale=0 dep
        for dep in "$@"; do [[ $dep -nt $obj ]] && stale=1; done
        [[ $stale == 0 ]] && return
    fi
    echo "fuzz.sh: compiling $name${srcs[*]:+ (${#srcs[@]} files)}" >&2
    mkdir -p "$dir"
    # shellcheck disable=SC2046
    "$swiftc" -parse-as-library -module-name "$name" -package-name sentimentd -swift-version 5 -O -wmo \
        -enable-testing -sanitize=fuzzer,address -g \
        -emit-module -emit-module-path "$dir/$name.swiftmodule" -I "$dir" -I "$out/obj" $(thirdparty_flags) \
        -c "${srcs[@]}" -o "$obj.tmp"
    mv "$obj.tmp" "$obj"
    echo "${srcs[*]}" >"$obj.sources"
}

build_target() {
    local target=$1
    [[ -n ${target_modules[$target]:-} ]] || { echo "fuzz.sh: no target $target (scripts/fuzz.sh --list)" >&2; exit 2; }
    IFS='|' read -r ours extra theirs <<<"${target_modules[$target]}"
    local deps=(Crypto $theirs)
    local all=()
    for d in "${deps[@]}"; do all+=(${thirdparty_objects[$d]}); done
    ensure_thirdparty "${all[@]}"
    # One build at a time in .build/fuzz (two runs may start together).
    exec 9>"$out/build.lock"
    flock 9
    # Whole modules are shared by the targets (.build/fuzz/obj); a module built in part, and every module after it
    # in the list (it imports the part), belongs to its target alone (.build/fuzz/obj/TARGET).
    local m dir=$out/obj objs=()
    for m in $ours; do
        [[ $m == *=* ]] && dir=$out/obj/$target
        build_module "$m" "$dir" "${objs[@]}"
        objs+=("$dir/${m%%=*}.o")
    done
    mapfile -t -O "${#objs[@]}" objs < <(thirdparty_objects_of "${deps[@]}")
    local libs=() d
    for d in "${deps[@]}"; do libs+=(${thirdparty_libraries[$d]:-}); done
    echo "fuzz.sh: linking $target" >&2
    # shellcheck disable=SC2046,SC2086
    "$swiftc" -parse-as-library -module-name "FuzzTarget" -package-name sentimentd -swift-version 5 -O -g \
        -sanitize=fuzzer,address -use-ld=lld -warnings-as-errors -I "$dir" -I "$out/obj" $(thirdparty_flags) \
        "fuzz/targets/$target.swift" $extra "${objs[@]}" "${libs[@]}" -o "$out/$target"
    flock -u 9
    echo "$out/$target"
}

run_target() {
    local target=$1 seconds=$2; shift 2
    local bin; bin=$(build_target "$target")
    local corpus=$out/corpus/$target crashes=$out/crashes/$target
    mkdir -p "$corpus" "$crashes"
    local flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=1048576
                 -artifact_prefix="$crashes/" -print_final_stats=1)
    # The target's dictionary (fuzz/dict/NAME.dict) with the JSON one for the targets that read JSON.
    local dict=$out/$target.dict
    : >"$dict"
    [[ $target == @(jsonrpc|manifest|model-config|hub-json|label-files|tokenizer-files|safetensors|open-inference) ]] \
        && cat fuzz/dict/json.dict >>"$dict"
    [[ -f fuzz/dict/$target.dict ]] && cat "fuzz/dict/$target.dict" >>"$dict"
    [[ -s $dict ]] && flags+=(-dict="$dict")
    local log=$out/$target.log
    echo "fuzz.sh: fuzzing $target for ${cpu_seconds:+$cpu_seconds CPU-s, at most }$seconds s (log: $log)" >&2
    local scratch; scratch=$(mktemp -d "$( [[ -d /dev/shm ]] && echo /dev/shm || echo /tmp)/sentimentd-fuzz-XXXXXX")
    # Fixtures the harnesses load (the tokenizers) are found through FUZZ_FIXTURES, relative to the repository.
    # SWIFT_BACKTRACE: a trap is libFuzzer's to report (its stack trace, the input written out); the Swift runtime's
    # own backtracer would first spend up to 30 s symbolicating each crash.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${target_asan[$target]:-${ASAN_OPTIONS:-}} FUZZ_FIXTURES=$root/Tests/Fixtures FUZZ_SCRATCH=$scratch "$bin" "${flags[@]}" "$@" "$corpus" "fuzz/corpus/$target" \
        >"$log" 2>&1 &
    local pid=$!
    # Counts the fuzzer's CPU time (every 2 s, into $out/TARGET.cpu) and, with --cpu-seconds, stops it there rather
    # than on wall time (the machine may be shared): SIGINT makes libFuzzer print its final stats.
    local hz; hz=$(getconf CLK_TCK)
    ( while kill -0 "$pid" 2>/dev/null; do
          read -r -a st <"/proc/$pid/stat" || break
          used=$(( (st[13] + st[14]) / hz ))
          echo "$used" >"$out/$target.cpu"
          [[ -n $cpu_seconds ]] && (( used >= cpu_seconds )) && { kill -INT "$pid"; break; }
          sleep 2
      done ) &
    local rc=0
    wait "$pid" || rc=$?
    wait || true
    grep -aE '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::|ERROR|SUMMARY|Test unit written|run interrupted' "$log" >&2 || true
    # The last coverage line: what the run reached.
    grep -aE '^#[0-9]+[[:space:]]+(pulse|NEW|REDUCE|DONE)' "$log" | tail -1 >&2 || true
    rm -rf "$scratch"
    local found; found=$(grep -ao 'Test unit written to .*' "$log" | sed 's/Test unit written to //' | tail -1 || true)
    [[ $rc == 72 ]] && rc=0   # stopped by --cpu-seconds (libFuzzer's interrupt exit code)
    if [[ $rc -ne 0 || -n $found ]]; then
        echo "fuzz.sh: $target FAILED (libFuzzer exit $rc): ${found:-see $log}" >&2
        [[ -n $found ]] && echo "$found"
        return 1
    fi
    echo "fuzz.sh: $target: no crash, hang or OOM ($(cat "$out/$target.cpu" 2>/dev/null || echo '?') CPU-s)" >&2
}

[[ $# -ge 1 ]] || usage
case $1 in
    --list) targets; exit 0 ;;
    --smoke)
        shift; seconds=10
        [[ ${1:-} == --seconds ]] && { seconds=$2; shift 2; }
        failed=0 cpu_seconds=""
        # A fixed seed: the smoke run is a check that every harness builds and that no input of the corpus (each
        # crash found so far is one) fails again, the same on every run; finding new inputs is the long runs' job, and
        # a CI verdict must not depend on where a random walk happens to land in ten seconds.
        for t in $(targets); do run_target "$t" "$seconds" -seed=1 || failed=1; done
        exit $failed ;;
    -h|--help) usage ;;
esac
target=$1; shift
seconds=60
cpu_seconds=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --cpu-seconds) cpu_seconds=$2; seconds=$((cpu_seconds * 20)); shift 2 ;;
        --build) build_target "$target"; exit 0 ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
run_target "$target" "$seconds" "$@"
