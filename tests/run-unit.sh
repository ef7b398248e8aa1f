#!/bin/sh
# Runs each cmocka unit-test binary; cmocka prints its own summary lines.
# Ends with one line "unit: N passed, N failed" (binaries).
pass=0; fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
