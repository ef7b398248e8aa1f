#!/bin/sh
# t_pin.sh - `raterm pin change | unblock | retries` on the target card
# through the private pcscd, with yubico-piv-tool as the referee: the new
# PIN verifies with yubico-piv-tool, the tries left after a wrong PIN agree
# (and went down by exactly one: never retried), the PUK unblocks; prompts
# at a terminal show the tries left; the default-credentials warning of
# `raterm show` and `pin retries` (GET METADATA, no try spent); the target
# reader from -r or readers.target; negative reader numbers are usage errors.
. "$(dirname "$0")/lib.sh"
need yubico-piv-tool python3
HOME=$T
export HOME
YPT=yubico-piv-tool
PTY=$REPO/tests/tools/pty_answer.py

run_ok "vpiv init card A" "$VPIV" init "$T/a.state" --serial 10000301
run_ok "vpiv init card B" "$VPIV" init "$T/b.state" --serial 10000302
stack_start --readers 2 --card "$T/a.state" --card "$T/b.state" || finish
RA=$VPIV_READER0
RB=$VPIV_READER1

# the station's target reader is B's: `raterm pin` works on it without -r
mkdir -p "$T/var"
cat >"$T/raterm.yaml" <<EOF
readers:
  officer: auto
  target: {name: "$RB"}
officer:
  token: card
  slot: 9c
cmhost:
  url: http://127.0.0.1:1/cmp
  trust: $T/none.pem
transport_cas: $T/none.pem
journal: $T/var/journal
audit: $T/var/audit.log
procedures: $REPO/conf/procedures.d
EOF
CONF=$T/raterm.yaml

# ypt_tries READER: "PIN tries left" as yubico-piv-tool reads it
ypt_tries() {
	"$YPT" -r "$1" -a status 2>/dev/null | sed -n 's/^PIN tries left:[[:space:]]*//p'
}
pins() {
	printf '%s\n' "$@" >"$T/pins"
}

# ---- retries and the default credentials -----------------------------------
run_ok "pin retries (readers.target)" "$RATERM" pin retries -c "$CONF"
expect_match "the target reader" "^Reader: +$RB\$" "$OUT"
expect_match "PIN tries" "^PIN: +3 of 3 tries left" "$OUT"
expect_match "PUK tries" "^PUK: +3 of 3 tries left" "$OUT"
expect_match "default credentials warned" "^Warning: the card still has the default PIN, PUK and management key" "$OUT"
run_ok "pin retries --json" "$RATERM" pin retries -c "$CONF" --json
expect_match "json" '"pin_retries": 3, "pin_total": 3, "puk_retries": 3, "puk_total": 3, "default_credentials": \["pin", "puk", "management_key"\]' "$OUT"
expect_eq "yubico-piv-tool agrees: 3" 3 "$(ypt_tries "$RB")"
run_ok "raterm show: default credentials" "$RATERM" show -r "$RB"
expect_match "show: the warning" "^Warning: the card still has the default PIN, PUK and management key\$" "$OUT"
run_ok "raterm show --json" "$RATERM" show -r "$RB" --json
expect_match "show json" '"default_credentials": \["pin", "puk", "management_key"\]' "$OUT"
expect_eq "asking spent no try" 3 "$(ypt_tries "$RB")"

# ---- change ----------------------------------------------------------------------
pins card=123456 new=24681357
run_ok "pin change (--pin-fd)" "$RATERM" pin change -c "$CONF" --pin-fd 3 3<"$T/pins"
expect_match "changed" "^PIN changed on the card in \"$RB\"" "$OUT"
run_ok "yubico-piv-tool verifies the new PIN" "$YPT" -r "$RB" -a verify-pin -P 24681357
run_fail "the old PIN no longer verifies" "$YPT" -r "$RB" -a verify-pin -P 123456
run_ok "new PIN again (counter back to 3)" "$YPT" -r "$RB" -a verify-pin -P 24681357
run_ok "card A untouched" "$YPT" -r "$RA" -a verify-pin -P 123456
run_ok "show: only PUK and management key default" "$RATERM" show -r "$RB"
expect_match "show: PUK and management key" "^Warning: the card still has the default PUK and management key\$" "$OUT"

# a wrong PIN: the tries left, reported, agreed by yubico-piv-tool, not retried
pins card=000000 new=11223344
run_rc "wrong PIN: exit 5" 5 "$RATERM" pin change -c "$CONF" --pin-fd 3 3<"$T/pins"
expect_match "wrong PIN: tries left" "wrong PIN for the card in \"$RB\", 2 tries left \(not tried again\); nothing changed.*\[PIN_WRONG, SW 63C2\]" "$OUT"
expect_eq "yubico-piv-tool: 2 tries left (one spent)" 2 "$(ypt_tries "$RB")"
run_ok "pin retries: 2" "$RATERM" pin retries -r "$RB"
expect_match "retries agree" "^PIN: +2 of 3 tries left" "$OUT"
# a new PIN the card cannot take is refused before anything is sent
pins card=24681357 new=123
run_rc "short new PIN: exit 5, nothing sent" 5 "$RATERM" pin change -r "$RB" --pin-fd 3 3<"$T/pins"
expect_match "short new PIN named" "the new PIN must be 6 to 8 characters, not 3; nothing changed \[PIN_FORMAT\]" "$OUT"
expect_eq "no try spent by it" 2 "$(ypt_tries "$RB")"

# at a terminal: the prompts show the tries left; the new PIN is asked twice
run_ok "at a terminal: change" python3 "$PTY" --answer "PIN of the card in .* \(2 tries left\): *\$=24681357" \
    --answer 'New PIN \(6 to 8 characters\): *$=97531864' --answer 'New PIN again: *$=97531864' -- \
    "$RATERM" pin change -r "$RB"
expect_match "terminal: the prompt with the tries left" "^PIN of the card in \"$RB\" \(2 tries left\):" "$OUT"
expect_no_match "terminal: PINs not echoed" "24681357|97531864" "$OUT"
run_ok "yubico-piv-tool verifies the PIN typed at the terminal" "$YPT" -r "$RB" -a verify-pin -P 97531864
run_rc "at a terminal: the two new PINs differ" 2 python3 "$PTY" --answer "PIN of the card in .*: *\$=97531864" \
    --answer 'New PIN \(6 to 8 characters\): *$=11111111' --answer 'New PIN again: *$=22222222' -- \
    "$RATERM" pin change -r "$RB"
expect_match "differ: nothing changed" "the two new PINs differ; nothing changed" "$OUT"
run_ok "PIN unchanged" "$YPT" -r "$RB" -a verify-pin -P 97531864

# ---- blocked, unblock with the PUK -------------------------------------------------
for _ in 1 2 3; do
	"$YPT" -r "$RB" -a verify-pin -P 000000 >/dev/null 2>&1
done
expect_eq "blocked (yubico-piv-tool)" 0 "$(ypt_tries "$RB")"
run_ok "pin retries: blocked" "$RATERM" pin retries -c "$CONF"
expect_match "retries: blocked" "^PIN: +0 of 3 tries left \(blocked\)" "$OUT"
pins card=97531864 new=11223344
run_rc "change on a blocked PIN: exit 5" 5 "$RATERM" pin change -c "$CONF" --pin-fd 3 3<"$T/pins"
expect_match "blocked: unblock named" "blocked \(raterm pin unblock sets a new one with the PUK\)" "$OUT"
pins puk=87654321 new=11223344
run_rc "unblock: wrong PUK" 5 "$RATERM" pin unblock -c "$CONF" --pin-fd 3 3<"$T/pins"
expect_match "wrong PUK: tries left" "wrong PUK for the card in \"$RB\", 2 tries left \(not tried again\).*\[PIN_WRONG, SW 63C2\]" "$OUT"
run_ok "pin retries: PUK 2" "$RATERM" pin retries -c "$CONF"
expect_match "PUK tries: 2" "^PUK: +2 of 3 tries left" "$OUT"
run_ok "at a terminal: unblock" python3 "$PTY" --answer "PUK of the card in .* \(2 tries left\): *\$=12345678" \
    --answer 'New PIN \(6 to 8 characters\): *$=11223344' --answer 'New PIN again: *$=11223344' -- \
    "$RATERM" pin unblock -c "$CONF"
expect_match "unblock: PUK prompt with the tries left" "^PUK of the card in \"$RB\" \(2 tries left\):" "$OUT"
expect_match "unblocked" "New PIN set on the card in \"$RB\"" "$OUT"
expect_eq "yubico-piv-tool: 3 tries again" 3 "$(ypt_tries "$RB")"
run_ok "yubico-piv-tool verifies the unblocked PIN" "$YPT" -r "$RB" -a verify-pin -P 11223344

# ---- the PUK ------------------------------------------------------------------------
pins puk=12345678 new=86427531
run_ok "pin change --puk" "$RATERM" pin change --puk -c "$CONF" --pin-fd 3 3<"$T/pins"
expect_match "PUK changed" "^PUK changed on the card in \"$RB\"" "$OUT"
run_ok "yubico-piv-tool unblocks with the new PUK" "$YPT" -r "$RB" -a unblock-pin -P 86427531 -N 55667788
run_ok "and the PIN it set verifies" "$YPT" -r "$RB" -a verify-pin -P 55667788
run_ok "show: only the management key default" "$RATERM" show -r "$RB" --json
expect_match "json: management key" '"default_credentials": \["management_key"\]' "$OUT"
run_ok "show card A: all default" "$RATERM" show -r "$RA"
expect_match "card A warned" "^Warning: the card still has the default PIN, PUK and management key" "$OUT"

# ---- usage -------------------------------------------------------------------------
run_rc "negative reader number: usage" 2 "$RATERM" pin retries -r -1
expect_match "the value named" "reader number -1: reader numbers start at 0.*\[USAGE\]" "$OUT"
expect_no_match "no huge number" "18446744073709551615" "$OUT"
run_rc "show -r -1: usage" 2 "$RATERM" show -r -1
run_rc "reader number too large" 3 "$RATERM" pin retries -r 99999999999999999999999
expect_match "too large: named as given" "no reader number 99999999999999999999999 \(2 reader\(s\) present" "$OUT"
run_ok "reader by number" "$RATERM" pin retries -r 0
expect_match "reader 0 is A" "^Reader: +$RA\$" "$OUT"
run_rc "no subcommand" 2 "$RATERM" pin
run_rc "--puk with retries" 2 "$RATERM" pin retries --puk
pins card=123456
run_rc "no new= line" 2 "$RATERM" pin change -r "$RA" --pin-fd 3 3<"$T/pins"
expect_match "missing line named" "--pin-fd has no 'new=' line" "$OUT"
expect_eq "card A: no try spent" 3 "$(ypt_tries "$RA")"
run_ok "pin --help" "$RATERM" pin --help
expect_match "help: subcommands" "raterm pin change" "$OUT"
finish
