#!/bin/sh
# Placeholder sources for the Docker build's dependency layer.
#
# Usage: cargo-stubs.sh MANIFEST...    (e.g. Cargo.toml testkit/Cargo.toml)
#
# Cargo refuses to load a manifest whose declared targets have no source file, so the Dockerfile
# cannot build the dependencies from Cargo.toml and Cargo.lock alone. For every manifest given,
# this creates, where no file exists yet:
#   - the library root (src/lib.rs, or [lib] path): an empty file;
#   - every declared [[bin]], [[bench]], [[test]] and [[example]] target (its `path`, or Cargo's
#     default path for its name): `fn main() {}`.
# Existing files are never touched, so running it again after copying the real sources only fills
# in what the build context leaves out (benches, tests and examples are not needed to build the
# binary). Targets Cargo discovers by itself (src/bin/*.rs, tests/*.rs without a [[test]] table)
# need no placeholder: a missing file is simply not discovered.
#
# Not handled: build scripts. If a package gains a build.rs (or `build = ...`), copy it into the
# build stage explicitly; a placeholder would silently replace it.
#
# POSIX sh and awk only (the build image is Debian slim: dash and mawk).
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: $0 MANIFEST..." >&2
    exit 2
fi

for manifest in "$@"; do
    if [ ! -f "$manifest" ]; then
        echo "cargo-stubs: $manifest: no such file" >&2
        exit 1
    fi
    dir=$(dirname "$manifest")
    # Into a variable first, so that a parse failure stops the script (sh has no pipefail).
    targets=$(awk '
        function value(line,    s) {
            # The first quoted string on the line: name = "spine" -> spine
            if (match(line, /"[^"]*"/)) return substr(line, RSTART + 1, RLENGTH - 2)
            if (match(line, /\047[^\047]*\047/)) return substr(line, RSTART + 1, RLENGTH - 2)
            return ""
        }
        function flush(    p) {
            if (section == "lib") {
                lib_path = (path != "") ? path : "src/lib.rs"
            } else if (section == "bin" || section == "bench" || section == "test" || section == "example") {
                p = path
                if (p == "" && name == "") {
                    printf "cargo-stubs: a [[%s]] table without name or path\n", section > "/dev/stderr"
                    failed = 1
                }
                if (p == "") {
                    if (section == "bin") p = (name == package) ? "src/main.rs" : "src/bin/" name ".rs"
                    else if (section == "bench") p = "benches/" name ".rs"
                    else if (section == "test") p = "tests/" name ".rs"
                    else p = "examples/" name ".rs"
                }
                print "main " p
            }
            name = ""; path = ""
        }
        /^[ \t]*\[/ {
            flush()
            section = $0
            sub(/#.*/, "", section)
            gsub(/[][ \t]/, "", section)
            if (section == "package") has_package = 1
            next
        }
        /^[ \t]*name[ \t]*=/ {
            if (section == "package") package = value($0); else name = value($0)
            next
        }
        /^[ \t]*path[ \t]*=/ { path = value($0); next }
        END {
            flush()
            if (has_package) print "lib " ((lib_path != "") ? lib_path : "src/lib.rs")
            exit failed
        }
    ' "$manifest")
    printf '%s\n' "$targets" | while read -r kind path; do
        [ -n "$kind" ] || continue
        file="$dir/$path"
        [ -e "$file" ] && continue
        mkdir -p "$(dirname "$file")"
        if [ "$kind" = lib ]; then
            : > "$file"
        else
            echo 'fn main() {}' > "$file"
        fi
        echo "cargo-stubs: $file"
    done
done
