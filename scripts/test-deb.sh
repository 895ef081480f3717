#!/usr/bin/env bash
# Tests the Debian packages (CI runs it after the Swift tests, from .ci/run):
#   1. builds them (scripts/package-deb.sh; or takes the two .deb files given as arguments);
#   2. the binaries need no Swift runtime: `ldd` names no libswift*, Foundation, Dispatch or toolchain path, the
#      ELF files carry no RPATH/RUNPATH, and they run with an empty environment;
#   3. lintian reports no error (its warnings and notes are printed);
#   4. a fresh install into a scratch root (dpkg --root, maintainer scripts included: --force-script-chrootless,
#      which they support through DPKG_ROOT): every file where it belongs, the conffile, the accounts from
#      sysusers.d, the folders from tmpfiles.d, the units enabled, the default model seeded; then the packaged
#      binaries serve that model from the scratch root (no build) and `sentimentctl status` is a probe;
#   5. an upgrade from the previous version: a scratch root holding the previous package, an edited conffile and
#      the database that version wrote (Tests/Fixtures/releases/sentimentd-<previous>.sqlite) is upgraded with dpkg;
#      the edit and the database survive the upgrade untouched, and the new daemon opens and migrates the database
#      with every row kept;
#   6. remove and purge: files gone, state in /var/lib/sentimentd and the accounts kept.
# Ends with "deb: N passed, M failed" and exits non-zero on any failure.
#
# Usage: scripts/test-deb.sh [--no-build] [SENTIMENTD.deb MODEL.deb]
# Runs as root (dpkg --root and the accounts' file ownership need it); installs lintian, dpkg-dev, binutils and
# sqlite3 when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

build_args=()
debs=()
for a in "$@"; do
    case "$a" in
        --no-build) build_args+=(--no-build) ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) debs+=("$a") ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: run as root (dpkg --root, chown to the service user)" >&2; exit 1; }

# Tools: lintian is the one a fresh Debian 12 machine lacks.
missing=()
for p in lintian dpkg-dev binutils sqlite3; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-debtest.XXXXXX")
chmod 0755 "$work"   # the scratch roots' service user must reach its folders, as on a real system
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok      $1"; }
not_ok() { failed=$((failed + 1)); echo "FAILED  $1"; if [ -n "${2:-}" ]; then sed 's/^/        /' <<< "$2"; fi; }
check_in() { # description file grep-arguments... : passes when grep finds the pattern in the file; shows the file if not
    local description=$1 file=$2; shift 2
    if grep "$@" "$file" >/dev/null 2>&1; then ok "$description"; else not_ok "$description" "$(head -n 30 "$file" 2>&1)"; fi
}
check() { # description command... : passes when the command succeeds (run in this shell, not a subshell)
    local description=$1; shift
    if "$@" > "$work/check.out" 2>&1; then ok "$description"; else not_ok "$description" "$(cat "$work/check.out")"; fi
}

# --- 1. the packages -------------------------------------------------------------------------------------------
if [ "${#debs[@]}" = 0 ]; then
    mapfile -t debs < <(scripts/package-deb.sh --out "$work/dist" "${build_args[@]}")
fi
[ "${#debs[@]}" = 2 ] || { echo "test-deb.sh: expected two packages, got: ${debs[*]}" >&2; exit 1; }
deb=${debs[0]}
model_deb=${debs[1]}
version=$(dpkg-deb -f "$deb" Version)
source_version=$(scripts/package-deb.sh --print-version)
echo "testing $(basename "$deb") and $(basename "$model_deb")"
check "the package version is SentimentVersion.current ($source_version)" test "$version" = "$source_version"
check "the model package has the same version" test "$(dpkg-deb -f "$model_deb" Version)" = "$version"

# --- 2. no Swift runtime needed --------------------------------------------------------------------------------
x=$work/extracted
dpkg-deb -x "$deb" "$x"
for exe in sentimentd sentimentctl; do
    libs=$(ldd "$x/usr/bin/$exe" 2>&1)
    # Every library found in the system's folders, none of the Swift runtime's, nothing missing.
    if grep -Eiq 'libswift|foundation|libdispatch|libBlocksRuntime|_FoundationICU|swift|not found' <<< "$libs" \
        || awk '/=>/ && $3 !~ /^\/(usr\/)?lib\// { outside = 1 } END { exit !outside }' <<< "$libs"; then
        not_ok "ldd $exe: no libswift*, Foundation, Dispatch or toolchain path" "$libs"
    else
        ok "ldd $exe: no libswift*, Foundation, Dispatch or toolchain path ($(grep -c '=>' <<< "$libs") libraries, all in /lib or /usr/lib)"
    fi
    check "$exe has no RPATH/RUNPATH" sh -c "! readelf -d '$x/usr/bin/$exe' | grep -E 'RPATH|RUNPATH'"
    check "$exe --version runs with an empty environment and says $version" \
        test "$(env -i "$x/usr/bin/$exe" --version)" = "$version"
done

# --- 3. lintian ------------------------------------------------------------------------------------------------
lintian --tag-display-limit 0 --display-info "$deb" "$model_deb" > "$work/lintian.log" 2>&1 || true
echo "lintian $(lintian --version | cut -d' ' -f2): $(grep -c '^E:' "$work/lintian.log" || true) errors," \
    "$(grep -c '^W:' "$work/lintian.log" || true) warnings, $(grep -c '^[IP]:' "$work/lintian.log" || true) notes"
sed 's/^/        /' "$work/lintian.log"
check "lintian reports no error" sh -c "! grep -q '^E:' '$work/lintian.log'"

# --- 4. fresh install into a scratch root ----------------------------------------------------------------------
new_root() { # dir: an empty system with a dpkg database and /etc
    mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates" "$1/var/lib/dpkg/triggers" "$1/etc"
    touch "$1/var/lib/dpkg/status" "$1/var/lib/dpkg/available"
}
# The packages' dependencies (libc, OpenBLAS, systemd, ...) are the host's; the scratch root has no record of them.
rdpkg() { # root args...
    local r=$1; shift
    dpkg --root="$r" --log=/dev/null --force-script-chrootless --force-depends "$@"
}
uid_in() { awk -F: -v n="$2" '$1 == n { print $3 }' "$1/etc/passwd"; }
gid_in() { awk -F: -v n="$2" '$1 == n { print $3 }' "$1/etc/group"; }

r=$work/fresh
new_root "$r"
if out=$(rdpkg "$r" -i "$deb" "$model_deb" 2>&1); then ok "dpkg --root -i of both packages"; else not_ok "dpkg --root -i of both packages" "$out"; fi
echo "$out" | sed 's/^/        /'
for f in usr/bin/sentimentd usr/bin/sentimentctl lib/systemd/system/sentimentd.service \
    lib/systemd/system/sentimentd.socket usr/lib/sysusers.d/sentimentd.conf usr/lib/tmpfiles.d/sentimentd.conf \
    etc/sentimentd/sentimentd.conf usr/share/doc/sentimentd/copyright usr/share/doc/sentimentd/changelog.gz \
    usr/share/man/man1/sentimentd.1.gz usr/share/man/man1/sentimentctl.1.gz \
    usr/share/bash-completion/completions/sentimentctl usr/share/bash-completion/completions/sentimentd \
    usr/share/zsh/vendor-completions/_sentimentctl usr/share/fish/vendor_completions.d/sentimentctl.fish \
    usr/share/sentimentd/bases/all-MiniLM-L6-v2/model.safetensors \
    usr/share/sentimentd/models/tweet-sentiment-minilm-lora/adapter_model.safetensors; do
    check "installed: /$f" test -s "$r/$f"
done
check "the service starts /usr/bin/sentimentd" grep -qx 'ExecStart=/usr/bin/sentimentd serve' "$r/lib/systemd/system/sentimentd.service"
check "no unit starts a program in /usr/local" sh -c "! grep -En '^Exec.*/usr/local' '$r'/lib/systemd/system/sentimentd.*"
check "/etc/sentimentd/sentimentd.conf is a conffile" \
    sh -c "dpkg-query --admindir='$r/var/lib/dpkg' -W -f='\${Conffiles}' sentimentd | grep -q ' /etc/sentimentd/sentimentd.conf '"
check "the shipped configuration lists the packaged bases folder" \
    grep -q '^base_directories = .*"/usr/share/sentimentd/bases"' "$r/etc/sentimentd/sentimentd.conf"
check "bash completion names the subcommands" grep -q 'labels' "$r/usr/share/bash-completion/completions/sentimentctl"
check "sentimentctl.1 holds every subcommand, status with its probe exit code" \
    sh -c "zcat '$r/usr/share/man/man1/sentimentctl.1.gz' | grep -q '^Exits 0 only while a model is served'"
check "the man pages' footer names the version" sh -c "zcat '$r/usr/share/man/man1/sentimentd.1.gz' | grep -qx '.Os sentimentd $version'"
for page in "$r"/usr/share/man/man1/sentimentctl.1.gz "$r"/usr/share/man/man1/sentimentd.1.gz; do
    check "man renders $(basename "$page") without a warning" \
        sh -c "out=\$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l '$page' 2>&1 >/dev/null); [ -z \"\$out\" ] || { echo \"\$out\"; exit 1; }"
done
# Accounts and folders made by the maintainer scripts inside the root.
uid=$(uid_in "$r" sentimentd)
check "sysusers.d: user sentimentd (uid $uid) with home /var/lib/sentimentd and no shell" \
    sh -c "grep -Eq '^sentimentd:x:[0-9]+:[0-9]+:[^:]*:/var/lib/sentimentd:/usr/sbin/nologin$' '$r/etc/passwd'"
for g in sentimentd sentimentd-label sentimentd-admin; do
    check "sysusers.d: group $g" test -n "$(gid_in "$r" "$g")"
done
for key in labeller_group admin_group; do
    group=$(sed -n "s/^$key = \"\(.*\)\"/\1/p" "$r/etc/sentimentd/sentimentd.conf")
    check "server.$key (\"$group\") is a group sysusers.d creates" test -n "$group" -a -n "$(gid_in "$r" "$group")"
done
check "the socket's group is the service's group" grep -qx 'SocketGroup=sentimentd' "$r/lib/systemd/system/sentimentd.socket"
for d in var/lib/sentimentd var/lib/sentimentd/models var/lib/sentimentd/bases; do
    check "tmpfiles.d: /$d is owned by sentimentd, mode 0750" test "$(stat -c %u:%a "$r/$d")" = "$uid:750"
done
check "the default model was seeded into /var/lib/sentimentd/models, owned by sentimentd" \
    test "$(stat -c %u "$r/var/lib/sentimentd/models/tweet-sentiment-minilm-lora/adapter_model.safetensors")" = "$uid"
check "the seeded copy is the packaged model" \
    cmp "$r/usr/share/sentimentd/models/tweet-sentiment-minilm-lora/adapter_model.safetensors" \
        "$r/var/lib/sentimentd/models/tweet-sentiment-minilm-lora/adapter_model.safetensors"
check "no partial copy left in the models folder" sh -c "! ls -A '$r/var/lib/sentimentd/models' | grep -q dpkg-new"
check "deb-systemd-helper enabled the service" test -L "$r/etc/systemd/system/multi-user.target.wants/sentimentd.service"
check "deb-systemd-helper enabled the socket" test -L "$r/etc/systemd/system/sockets.target.wants/sentimentd.socket"
check "the installed units pass systemd-analyze verify" scripts/verify-units.sh "$r/lib/systemd/system"

# Serving from the scratch root with the packaged binaries, configuration and model: the packaged configuration
# with its absolute paths moved into the root.
start_daemon() { # root
    local rt=$1
    mkdir -p "$rt/run/sentimentd"
    sed -e "s#\"/var/lib/sentimentd#\"$rt/var/lib/sentimentd#g" -e "s#\"/usr/share/sentimentd#\"$rt/usr/share/sentimentd#g" \
        -e "s#\"/run/sentimentd#\"$rt/run/sentimentd#g" "$rt/etc/sentimentd/sentimentd.conf" > "$work/rooted.conf"
    "$rt/usr/bin/sentimentd" serve --config "$work/rooted.conf" 2> "$work/daemon.log" &
    daemon_pid=$!
    export SENTIMENTD_SOCKET=$rt/run/sentimentd/sentimentd.sock
}
stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || true
    local status=0
    wait "$daemon_pid" || status=$?
    daemon_pid=
    return $status
}
wait_until() { # seconds command... (polls; the machine may be busy)
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
ctl() { "$r/usr/bin/sentimentctl" "$@"; }

start_daemon "$r"
# `sentimentctl status` is the probe: 0 only once a model is served.
if wait_until 600 ctl status; then
    ok "the packaged daemon serves the packaged default model from the scratch root (status exits 0)"
    ctl predict --json "I love this, best day ever" "this is the worst service I have ever had" > "$work/predict.json" 2>&1 || true
    check_in "predict answers with tweet-sentiment-minilm-lora" "$work/predict.json" -q '"model" : "tweet-sentiment-minilm-lora"'
    check "predict: the first text is positive, the second negative" \
        sh -c "grep -o '\"label\" : \"[a-z]*\"' '$work/predict.json' | tr '\n' ' ' | grep -qx '\"label\" : \"positive\" \"label\" : \"negative\" '"
else
    not_ok "the packaged daemon serves the packaged default model from the scratch root (status exits 0)" \
        "$(ctl status 2>&1; cat "$work/daemon.log")"
fi
check "the daemon stops cleanly on SIGTERM" stop_daemon
exit_status() { "$@" >/dev/null 2>&1 && echo 0 || echo $?; }
check "status exits 3 once the daemon is gone" test "$(exit_status ctl status)" = 3

# --- 5. upgrade from the previous version ----------------------------------------------------------------------
fixture=$(ls Tests/Fixtures/releases/sentimentd-*.sqlite | sort -V | tail -n 1)
previous=$(basename "$fixture" .sqlite); previous=${previous#sentimentd-}
check "the fixture's version ($previous) is older than this one ($version)" dpkg --compare-versions "$previous" lt "$version"
# sentimentd was not packaged before $version: the previous package is this one with the previous version number,
# so the upgrade path (maintainer scripts with "configure $previous", the conffile, the state left in place) runs
# exactly as dpkg runs it; the database is the one the previous release's binaries wrote.
repack() { # deb new-version out
    local t=$work/repack
    rm -rf "$t"; dpkg-deb -R "$1" "$t"
    sed -i "s/^Version: .*/Version: $2/" "$t/DEBIAN/control"
    dpkg-deb --root-owner-group -Zxz --build "$t" "$3" >/dev/null
}
repack "$deb" "$previous" "$work/sentimentd_previous.deb"
repack "$model_deb" "$previous" "$work/sentimentd-model-minilm_previous.deb"
r=$work/upgrade
new_root "$r"
rdpkg "$r" -i "$work/sentimentd_previous.deb" "$work/sentimentd-model-minilm_previous.deb" > "$work/dpkg.log" 2>&1 \
    || { cat "$work/dpkg.log"; exit 1; }
uid=$(uid_in "$r" sentimentd)
db=$r/var/lib/sentimentd/sentimentd.sqlite
install -o "$uid" -g "$(gid_in "$r" sentimentd)" -m 0600 "$fixture" "$db"
# The broken upload the previous version rejected (tools/make-upgrade-fixture.sh) is still in its models folder.
mkdir "$r/var/lib/sentimentd/models/broken-upload"
echo "not json" > "$r/var/lib/sentimentd/models/broken-upload/config.json"
sed -i 's/^level = "info"/level = "debug"  # edited by the administrator/' "$r/etc/sentimentd/sentimentd.conf"
before_sum=$(sha256sum < "$db")
if out=$(rdpkg "$r" -i "$deb" "$model_deb" 2>&1); then ok "dpkg --root -i upgrades $previous to $version"; else not_ok "dpkg --root -i upgrades $previous to $version" "$out"; fi
check "dpkg records sentimentd $version" \
    test "$(dpkg-query --admindir="$r/var/lib/dpkg" -W -f='${Version} ${Status}' sentimentd)" = "$version install ok installed"
check "the administrator's edit of the conffile is kept" grep -q '^level = "debug"  # edited by the administrator' "$r/etc/sentimentd/sentimentd.conf"
check "the upgrade leaves the database untouched" test "$(sha256sum < "$db")" = "$before_sum"
check "the upgrade does not seed the default model again (no second copy, nothing replaced)" \
    test "$(ls -A "$r/var/lib/sentimentd/models" | tr '\n' ' ')" = "broken-upload tweet-sentiment-minilm-lora "

# Every row of every table the previous version wrote, over its columns, one line each, prefixed by the table (the
# migrations' own table aside). A version's row is the registry's to update as it re-checks the folders at start
# (status, reason, fingerprint, validation time): for model_version only the name and first sighting must stay.
rows() { # db
    local t cols
    for t in $(sqlite3 "$fixture" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY name"); do
        if [ "$t" = model_version ]; then
            cols='"version", "first_seen"'
        else
            cols=$(sqlite3 "$fixture" "SELECT group_concat('\"' || name || '\"', ', ') FROM pragma_table_info('$t')")
        fi
        sqlite3 -separator ' | ' "$1" "SELECT '$t', $cols FROM \"$t\""
    done | LC_ALL=C sort
}
rows "$fixture" > "$work/rows.before"
labels_before=$(sqlite3 "$fixture" "SELECT count(*) FROM label")
runs_before=$(sqlite3 "$fixture" "SELECT count(*) FROM training_run")
check "the fixture holds labels and a finished run ($labels_before labels, $runs_before runs)" \
    test "$labels_before" -gt 100 -a "$runs_before" -ge 1

start_daemon "$r"
if wait_until 600 ctl status; then
    ok "sentimentd $version starts on the database of $previous"
    ctl labels stats --json > "$work/stats.json" 2>&1 || true
    check_in "labels stats counts every label of $previous ($labels_before)" "$work/stats.json" -Eq "^  \"total\" : $labels_before,?\$"
    ctl runs show 1 > "$work/run1.txt" 2>&1 || true
    check_in "runs show 1 shows the run of $previous and its decision" "$work/run1.txt" -q '^decision: rejected'
    ctl models > "$work/models.txt" 2>&1 || true
    check_in "models lists the rejected upload of $previous with its reason" "$work/models.txt" -Eq 'broken-upload +rejected .*invalid JSON'
    check_in "models: the default model is active" "$work/models.txt" -Eq '^\* +tweet-sentiment-minilm-lora +active'
else
    not_ok "sentimentd $version starts on the database of $previous" "$(cat "$work/daemon.log")"
fi
check "the daemon stops cleanly" stop_daemon
rows "$db" > "$work/rows.after"
# Rows may be added (a new activation when a folder is re-checked), none may go or change.
LC_ALL=C comm -23 "$work/rows.before" "$work/rows.after" > "$work/rows.lost"
if [ ! -s "$work/rows.lost" ]; then
    ok "every row of $previous is still there after the migration ($(wc -l < "$work/rows.before") rows in $(cut -d' ' -f1 "$work/rows.before" | sort -u | wc -l) tables)"
else
    not_ok "every row of $previous is still there after the migration" "$(head -40 "$work/rows.lost")"
fi
expected_migrations=$(grep -rhoE 'registerMigration\("[^"]+"' Sources/SentimentStore | sed 's/.*("//; s/"$//' | sort)
applied_migrations=$(sqlite3 "$db" "SELECT identifier FROM grdb_migrations" | sort)
check "the database now holds every migration this version knows ($(echo "$expected_migrations" | wc -l))" \
    test "$expected_migrations" = "$applied_migrations"
check "integrity_check: ok" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok

# --- 6. remove and purge ----------------------------------------------------------------------------------------
out=$(rdpkg "$r" -r sentimentd-model-minilm sentimentd 2>&1) && ok "dpkg -r" || not_ok "dpkg -r" "$out"
check "remove: binaries gone" test ! -e "$r/usr/bin/sentimentd"
check "remove: the conffile stays until purge" test -f "$r/etc/sentimentd/sentimentd.conf"
out=$(rdpkg "$r" -P sentimentd-model-minilm sentimentd 2>&1) && ok "dpkg -P" || not_ok "dpkg -P" "$out"
check "purge: the configuration is gone" test ! -e "$r/etc/sentimentd/sentimentd.conf"
check "purge: the units' enablement is gone" test ! -e "$r/etc/systemd/system/multi-user.target.wants/sentimentd.service"
check "purge: the database and the models are kept" test -f "$db" -a -d "$r/var/lib/sentimentd/models/tweet-sentiment-minilm-lora"
check "purge: the service account is kept (files it owns remain)" test -n "$(uid_in "$r" sentimentd)"

# --- the source install keeps working ---------------------------------------------------------------------------
scripts/install.sh --dry-run --no-build > "$work/install.out" 2>&1 || true
check "scripts/install.sh --dry-run: accounts from the shared sysusers.d file" grep -q 'systemd-sysusers sentimentd.conf' "$work/install.out"
check "scripts/install.sh --dry-run: the service starts /usr/local/bin/sentimentd" \
    grep -q 'sentimentd.service: ExecStart=/usr/local/bin/sentimentd serve' "$work/install.out"

echo
echo "deb: $passed passed, $failed failed"
[ "$failed" = 0 ]
