#!/bin/sh
# Runs each cmocka unit-test binary; cmocka prints its own summary lines.
# Ends with one line "unit: N passed, N failed, N skipped" (binaries). A
# binary is skipped when it exits 77 or cmocka skipped some of its tests
# (skip(): "[  SKIPPED ] N test(s)"); it counts as passed otherwise.
# CI_REQUIRED=1 (set by `make check`): a skip is a failure, except for the
# binaries named in UNIT_OPTIONAL (base names, space-separated), which
# may skip where a facility is missing.
UNIT_OPTIONAL=${UNIT_OPTIONAL:-}
tmp=$(mktemp "${TMPDIR:-/tmp}/raterm-unit.XXXXXX") || exit 1
trap 'rm -f "$tmp"' EXIT
pass=0; fail=0; skip=0
for t in "$@"; do
	name=$(basename "$t")
	"$t" >"$tmp" 2>&1
	rc=$?
	cat "$tmp"
	n=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test(s), listed below:.*/\1/p' "$tmp" | head -n 1)
	[ $rc -eq 77 ] && n=all
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		fail=$((fail + 1)); echo "FAILED: $t"
	elif [ -z "$n" ]; then
		pass=$((pass + 1))
	else
		case " $UNIT_OPTIONAL " in
		*" $name "*) optional=1 ;;
		*) optional=0 ;;
		esac
		if [ "${CI_REQUIRED:-0}" = 1 ] && [ $optional = 0 ]; then
			fail=$((fail + 1))
			echo "FAILED: $t skipped $n test(s), and CI_REQUIRED=1 (not in UNIT_OPTIONAL)"
		else
			skip=$((skip + 1)); echo "SKIPPED: $t ($n test(s))"
		fi
	fi
done
echo "unit: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
