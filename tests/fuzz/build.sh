#!/bin/sh
# build.sh - builds the libFuzzer harnesses in tests/fuzz/ (one per parser:
# create body, query/path, config file) with clang and ASan/UBSan, out of tree.
# Usage: tests/fuzz/build.sh [OUTDIR]          (default: ./fuzz-out)
#        FUZZ_SECONDS=60 tests/fuzz/build.sh [OUTDIR]   also runs each harness that long
# on a scratch copy of its seed corpus (tests/fuzz/corpus/<name>/); exits non-zero on a crash.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-$PWD/fuzz-out}
CC=${CC:-clang}
harnesses="fuzz_job_spec fuzz_query fuzz_config"

mkdir -p "$out/obj" "$out/include"
out=$(cd "$out" && pwd)
# the C side of the algorithm registry, generated like the Makefile does
sh "$top/scripts/gen-algorithms" "$top/share/algorithms.tsv" >"$out/include/algorithms.h"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $san -I$out/include -I$top/src \
$(pkg-config --cflags json-c libcurl libpq cjose uuid)"
libs="$(pkg-config --libs json-c libcurl libpq cjose uuid) -lfcgi -lm"

# The library under test: every module but the two entry points, instrumented
# for coverage (fuzzer-no-link) and collected in one archive.
rm -f "$out/libautoml-fuzz.a"
for src in "$top"/src/*.c "$top"/src/handlers/*.c; do
	name=$(basename "$src" .c)
	case "$name" in main|ctl) continue ;; esac
	dir=$(basename "$(dirname "$src")")
	obj="$out/obj/${dir}_$name.o"
	$CC $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
	ar rc "$out/libautoml-fuzz.a" "$obj"
done

for h in $harnesses; do
	$CC $cflags -fsanitize=fuzzer "$here/$h.c" "$out/libautoml-fuzz.a" $libs -o "$out/$h"
	echo "built $out/$h"
done

if [ -n "${FUZZ_SECONDS:-}" ]; then
	status=0
	for h in $harnesses; do
		corpus=${h#fuzz_}
		work="$out/work-$corpus"
		mkdir -p "$work"
		echo "running $h for $FUZZ_SECONDS s"
		(cd "$out" && "./$h" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 "$work" "$here/corpus/$corpus") >"$out/$h.log" 2>&1 || {
			echo "$h FAILED; see $out/$h.log"
			status=1
		}
		grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "$out/$h.log" | tail -3
	done
	exit $status
fi
