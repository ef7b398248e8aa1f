#!/bin/sh
# t_update_plan.sh - configuration, procedures and `raterm update --dry-run`
# through the private pcscd:
#   a TC card (pre-personalized by vpiv with the test transport CA): the
#     tc-redo procedure runs every TC control and prints the plan; renew
#     (no TC controls) is refused for it; Add on a TC key is refused with
#     the reason;
#   a card in use (certificates from the issuing CA): renew plans a Redo;
#     Add is refused because PIV holds one certificate per key;
#   a card with an expired TC: the plan is refused naming the control;
#   check-config passes on conf/ and fails with FILE:LINE on a broken file.
. "$(dirname "$0")/lib.sh"
need openssl
PKI=$T/pki
PINS=$T/pins
echo "card=123456" > "$PINS"

test_pki
TCA="--ca-cert $PKI/transport-ca.pem --ca-key $PKI/transport-ca.key"
run_ok "init TC card" "$VPIV" init "$T/tc.state" --serial 30000001
# shellcheck disable=SC2086
run_ok "personalize TC card" "$VPIV" personalize "$T/tc.state" $TCA \
    --slot 9a --subject "CN=TC 9a,O=raterm tests" \
    --slot 9c --subject "CN=TC 9c,O=raterm tests" \
    --slot 9d --alg rsa2048 --subject "CN=TC 9d,O=raterm tests"
run_ok "TC card: 9e key without certificate" "$VPIV" personalize "$T/tc.state" \
    --slot 9e --key-only
run_ok "init card in use" "$VPIV" init "$T/used.state" --serial 30000002
run_ok "personalize card in use" "$VPIV" personalize "$T/used.state" \
    --ca-cert "$PKI/issuing.pem" --ca-key "$PKI/issuing.key" \
    --slot 9a --subject "CN=Jane Doe 9a,O=raterm tests" \
    --slot 9c --subject "CN=Jane Doe 9c,O=raterm tests"
run_ok "init expired-TC card" "$VPIV" init "$T/old.state" --serial 30000003
# shellcheck disable=SC2086
run_ok "personalize expired-TC card" "$VPIV" personalize "$T/old.state" $TCA \
    --slot 9a --subject "CN=Old 9a,O=raterm tests" \
    --not-before 20200101000000 --not-after 20210101000000

# ---- configuration ---------------------------------------------------------
CONF=$T/raterm.yaml
station_conf "$CONF"	# (no CM host: nothing listens at its URL)
run_ok "check-config: test config" "$RATERM" check-config -c "$CONF" --strict
expect_match "check-config: valid" "raterm.yaml: valid; [0-9]+ procedures" "$OUT"
run_ok "check-config: shipped conf/" "$RATERM" check-config -c "$REPO/conf/raterm.yaml"
expect_match "shipped conf/ valid" "conf/raterm.yaml: valid" "$OUT"
RATERM_CONFIG=$CONF run_ok "check-config: \$RATERM_CONFIG" "$RATERM" check-config
expect_match "env config used" "$T/raterm.yaml: valid" "$OUT"

mkdir -p "$T/broken/procedures.d"
cp "$REPO/conf/procedures.d/"*.yaml "$T/broken/procedures.d/"
sed "s#^procedures: .*#procedures: procedures.d#" "$CONF" > "$T/broken/raterm.yaml"
cat > "$T/broken/procedures.d/zz-bad.yaml" <<'EOF2'
name: zz-bad
description: a broken procedure
actions: [redo, replace]
profiles:
  9a: piv-auth
card_pins: many
colour: red
EOF2
run_rc "check-config: broken procedure" 2 "$RATERM" check-config -c "$T/broken/raterm.yaml"
expect_match "broken: unknown action with file:line" "zz-bad.yaml:3: actions: expected issue, redo, add or blank, got 'replace'" "$OUT"
expect_match "broken: wrong type" "zz-bad.yaml:6: card_pins: expected a whole number from 1 to 2, got 'many'" "$OUT"
expect_match "broken: unknown key" "zz-bad.yaml:7: colour: unknown key" "$OUT"
expect_match "broken: count" "3 errors in" "$OUT"
printf 'readers: [\n' > "$T/broken/raterm.yaml"
run_rc "check-config: YAML syntax error" 2 "$RATERM" check-config -c "$T/broken/raterm.yaml"
expect_match "syntax error names file and line" "broken/raterm.yaml:2: YAML syntax error" "$OUT"
run_rc "update refuses a broken config" 2 "$RATERM" update -c "$T/broken/raterm.yaml" \
    --procedure tc-redo --action 9a=redo --dry-run
expect_match "update: config error named" "raterm.yaml:2: YAML syntax error.*\[CONFIG\]" "$OUT"

run_ok "procedures" "$RATERM" procedures -c "$CONF"
expect_match "procedures: tc-redo" "^tc-redo +issue,redo +chain,possession,binding,attestation\$" "$OUT"
expect_match "procedures: tc-redo's profiles" "^ {17}profiles: 9a=piv-auth " "$OUT"
expect_eq "procedures: 80 columns" 0 "$(awk 'length > 80' "$OUT" | wc -l)"
expect_match "procedures: renew" "^renew +issue,redo,add +none" "$OUT"
run_ok "procedures --json" "$RATERM" procedures -c "$CONF" --json
expect_match "procedures json" '"name": "tc-redo", .*"actions": \["issue", "redo"\], "tc_controls": \["chain", "possession", "binding", "attestation"\]' "$OUT"

# ---- plans through pcscd -------------------------------------------------------
stack_start --readers 4 --card "$T/tc.state" --card "$T/used.state" --card "$T/old.state" || finish
RT=$VPIV_READER0
RU=$VPIV_READER1
RO=$VPIV_READER2

run_ok "tc-redo dry run" "$RATERM" update -c "$CONF" -r "$RT" --procedure tc-redo \
    --action 9a=redo --action 9c=issue --action 9d=redo --dry-run --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/plan.txt"
expect_match "plan: header" "^Plan for the card in \"$RT\" \(serial 30000001\), procedure tc-redo:" "$T/plan.txt"
expect_match "plan: 9a before" "^  9a +Redo +ECCP256 +TC \"TC 9a\" from raterm Test Transport CA" "$T/plan.txt"
# the plan fits 80 columns: "on the card" wraps under the row
expect_match "plan: 9a after" "-> new certificate \(profile piv-auth\) replaces the TC" "$T/plan.txt"
expect_match "plan: 9c issue" "^  9c +Issue +ECCP256 +TC \"TC 9c\"" "$T/plan.txt"
expect_match "plan: 9c card unchanged" "-> card unchanged; secondary certificate \(profile" "$T/plan.txt"
expect_match "plan: 9d RSA" "^  9d +Redo +RSA2048 " "$T/plan.txt"
expect_match "plan: TC verified" "^Transport certificates: verified" "$T/plan.txt"
expect_match "plan: two PINs" "^Card PINs needed: 2" "$T/plan.txt"
expect_no_match "plan: 9e untouched" "^  9e " "$T/plan.txt"
run_ok "tc-redo dry run --json" "$RATERM" update -c "$CONF" -r "$RT" --procedure tc-redo \
    --action 9a=redo --dry-run --json --pin-fd 3 3<"$PINS"
expect_match "json plan" '"procedure": "tc-redo", "tc_card": true, "tc_verified": true, "steps": \[' "$OUT"
expect_match "json step" '"slot": "9a", "action": "redo", "algorithm": "ECCP256", "profile": "piv-auth", "tc": true, "writes_card": true' "$OUT"
# without a terminal and without --pin-fd the TC controls cannot run: the
# error names the PIN they need (a usage error), not a rule
run_rc "dry run of a TC card, no PIN source" 2 "$RATERM" update -c "$CONF" -r "$RT" \
    --procedure tc-redo --action 9a=redo --dry-run
expect_match "dry run: names the PIN" "PIN.*(terminal|--pin-fd)" "$OUT"
expect_no_match "dry run: not a rule" "\[RULE\]" "$OUT"
# a card printer's encoder: feed before the card is read, eject after
cp "$CONF" "$T/printer.yaml"
cat >> "$T/printer.yaml" <<EOF2
printer:
  feed: "echo fed >> $T/printer.log; echo card 1 in"
  eject: "echo ejected >> $T/printer.log"
EOF2
run_ok "printer: feed and eject around a dry run" "$RATERM" update -c "$T/printer.yaml" \
    -r "$RT" --procedure tc-redo --action 9a=redo --dry-run --pin-fd 3 3<"$PINS"
expect_match "printer: feed said" "printer feed: done: card 1 in" "$OUT"
expect_eq "printer: fed, then ejected" "fed ejected" "$(tr '\n' ' ' < "$T/printer.log" | sed 's/ $//')"
sed 's/echo card 1 in/exit 3/' "$T/printer.yaml" > "$T/printer-bad.yaml"
run_rc "printer: a failing feed stops before the card is read" 1 "$RATERM" update \
    -c "$T/printer-bad.yaml" -r "$RT" --procedure tc-redo --action 9a=redo --dry-run \
    --pin-fd 3 3<"$PINS"
expect_match "printer: the failure named" "printer feed \(.*exit 3\): exit status 3 \[IO\]" "$OUT"
run_ok "nothing to do" "$RATERM" update -c "$CONF" -r "$RT" --procedure tc-redo --dry-run
expect_match "nothing to do: said" "Nothing to do: every key is Blank; nothing will be sent" "$OUT"

run_rc "renew refused on the TC card" 9 "$RATERM" update -c "$CONF" -r "$RT" \
    --procedure renew --action 9a=redo --dry-run
expect_match "renew: reason" "procedure 'renew' has no TC-authenticity controls: the card holds a transport certificate \(slot 9a\).*\[RULE\]" "$OUT"
run_rc "Add on a TC key refused" 9 "$RATERM" update -c "$CONF" -r "$RT" \
    --procedure tc-redo --action 9a=add --dry-run
expect_match "Add on TC: reason" "Add refused on slot 9a: the key holds a transport certificate and Add would keep the TC on the card; use Redo" "$OUT"
run_rc "Add on the card in use refused" 9 "$RATERM" update -c "$CONF" -r "$RU" \
    --procedure renew --action 9c=add --dry-run
expect_match "Add on PIV: reason" "Add not possible on slot 9c: a PIV card holds one certificate per key" "$OUT"
run_rc "action not allowed by the procedure" 9 "$RATERM" update -c "$CONF" -r "$RT" \
    --procedure qualified-sign --action 9a=redo --dry-run
expect_match "no profile for the slot" "Redo refused on slot 9a: procedure 'qualified-sign' has no certificate profile" "$OUT"
run_rc "no such key" 4 "$RATERM" update -c "$CONF" -r "$RU" \
    --procedure renew --action 82=redo --dry-run
expect_match "no such key: named" "the card holds no key in slot 82" "$OUT"
run_rc "unknown procedure" 2 "$RATERM" update -c "$CONF" -r "$RU" \
    --procedure nope --action 9a=redo --dry-run
run_rc "bad --action" 2 "$RATERM" update -c "$CONF" --procedure renew --action 9a=delete

run_ok "renew on the card in use" "$RATERM" update -c "$CONF" -r "$RU" \
    --procedure renew --action 9a=redo --dry-run
expect_match "renew plan" "^  9a +Redo +ECCP256 +\"Jane Doe 9a\" from raterm Test Issuing CA" "$OUT"
expect_match "renew after" "-> new certificate \(profile piv-auth\) replaces it" "$OUT"

# ---- the same through a job file: raterm update --batch ---------------------------
cat > "$T/job.yaml" <<EOF2
# one card
reader: "$RT"
procedure: tc-redo
actions:
  9a: redo
  9c: issue
  9d: redo
EOF2
run_ok "--batch dry run" "$RATERM" update -c "$CONF" --batch "$T/job.yaml" --dry-run \
    --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/plan-batch.txt"
run_ok "--batch: the same plan as the options form" cmp "$T/plan.txt" "$T/plan-batch.txt"
run_ok "options form --json" "$RATERM" update -c "$CONF" -r "$RT" --procedure tc-redo \
    --action 9a=redo --action 9c=issue --action 9d=redo --dry-run --json --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/plan.json"
run_ok "--batch --json" "$RATERM" update -c "$CONF" --batch "$T/job.yaml" --dry-run --json \
    --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/plan-batch.json"
run_ok "--batch --json: the same JSON plan" cmp "$T/plan.json" "$T/plan-batch.json"

# several cards: the TC card, the card in use; one plan each, then a summary
cat > "$T/jobs.yaml" <<EOF2
procedure: tc-redo
cards:
  - reader: "$RT"
    actions: {9a: redo}
  - reader: "$RU"
    procedure: renew
    actions: {9a: redo, 9c: redo}
EOF2
run_ok "--batch: two cards" "$RATERM" update -c "$CONF" --batch "$T/jobs.yaml" --dry-run \
    --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/jobs.txt"
expect_match "two cards: header 1" "^== Card 1 of 2 \($T/jobs.yaml:3\): reader \"$RT\", procedure tc-redo ==" "$T/jobs.txt"
expect_match "two cards: plan 1" "^Plan for the card in \"$RT\" \(serial 30000001\), procedure tc-redo:" "$T/jobs.txt"
expect_match "two cards: plan 2" "^Plan for the card in \"$RU\" \(serial 30000002\), procedure renew:" "$T/jobs.txt"
expect_match "two cards: summary" "^Job $T/jobs.yaml: 2 cards, 2 planned, 0 failed, 0 not run" "$T/jobs.txt"
expect_match "two cards: card 2 planned" "^  card 2 +\(line 5\) +\"$RU\" +planned\$" "$T/jobs.txt"
run_ok "--batch: two cards --json" "$RATERM" update -c "$CONF" --batch "$T/jobs.yaml" \
    --dry-run --json --pin-fd 3 3<"$PINS"
expect_match "two cards json: summary" '"card": 2, "line": 5, "reader": ".*", "result": "planned", "exit": 0, "error": null' "$OUT"
expect_no_match "two cards json: no text headers" "^== Card" "$OUT"

# the second card fails (an expired TC): stop (default) leaves the third not
# run; continue runs it; the exit status is the failed card's
cat > "$T/jobs-stop.yaml" <<EOF2
procedure: tc-redo
cards:
  - reader: "$RT"
    actions: {9a: redo}
  - reader: "$RO"
    actions: {9a: redo}
  - reader: "$RU"
    procedure: renew
    actions: {9c: redo}
EOF2
run_rc "--batch: card 2 fails, stop" 9 "$RATERM" update -c "$CONF" --batch "$T/jobs-stop.yaml" \
    --dry-run --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/stop.txt"
expect_match "stop: card 2 reason" "TC control failed on slot 9a \(TC_EXPIRED" "$T/stop.txt"
expect_match "stop: summary" "^Job .*: 3 cards, 1 planned, 1 failed, 1 not run" "$T/stop.txt"
expect_match "stop: card 1 planned" "^  card 1 +\(line 3\) +\"$RT\" +planned\$" "$T/stop.txt"
expect_match "stop: card 2 failed" "^  card 2 +\(line 5\) +\"$RO\" +FAILED \(exit 9\): .*TC_EXPIRED" "$T/stop.txt"
expect_match "stop: card 3 not run" "^  card 3 +\(line 7\) +\"$RU\" +not run" "$T/stop.txt"
# the summary's columns line up whatever the readers' names
expect_eq "summary aligned" 1 "$(grep '^  card [0-9]' "$T/stop.txt" | awk 'match($0, /(planned|FAILED|not run)/) { print RSTART }' | sort -u | wc -l)"
expect_no_match "stop: card 3 not read" "serial 30000002" "$T/stop.txt"
sed -i '1i on_failure: continue' "$T/jobs-stop.yaml"
run_rc "--batch: card 2 fails, continue" 9 "$RATERM" update -c "$CONF" \
    --batch "$T/jobs-stop.yaml" --dry-run --pin-fd 3 3<"$PINS"
expect_match "continue: card 3 planned" "^  card 3 +\(line 8\) +\"$RU\" +planned" "$OUT"
expect_match "continue: summary" "^Job .*: 3 cards, 2 planned, 1 failed, 0 not run" "$OUT"

# a rule's refusal names the job line of the action
printf 'reader: "%s"\nprocedure: tc-redo\nactions:\n  9a: add\n' "$RT" > "$T/job-add.yaml"
run_rc "--batch: Add on a TC key refused" 9 "$RATERM" update -c "$CONF" --batch "$T/job-add.yaml" \
    --dry-run
expect_match "--batch: refusal names file:line" "job-add.yaml:4: actions.9a: Add refused on slot 9a" "$OUT"

# broken job files: file:line: field
cat > "$T/job-bad.yaml" <<EOF2
reader: "$RT"
procedure: tc-redo
actions:
  9a: renew
colour: red
EOF2
run_rc "--batch: broken job" 2 "$RATERM" update -c "$CONF" --batch "$T/job-bad.yaml" --dry-run
expect_match "broken job: file:line: field" "job-bad.yaml:4: actions.9a: expected blank, issue, redo or add, got 'renew'" "$OUT"
expect_match "broken job: unknown key" "job-bad.yaml:5: colour: unknown key" "$OUT"
expect_match "broken job: CONFIG" "\(and 1 more errors in the job file\) \[CONFIG\]" "$OUT"
printf 'reader: "%s"\nprocedure: tc-redo\nactions: {9a: redo}\npin: 123456\n' "$RT" > "$T/job-pin.yaml"
run_rc "--batch: a PIN in the job is refused" 2 "$RATERM" update -c "$CONF" \
    --batch "$T/job-pin.yaml" --dry-run
expect_match "PIN refused: named" "job-pin.yaml:4: pin: PINs, passphrases and keys are never read from a job file: they are asked on the terminal or read from --pin-fd" "$OUT"
printf 'procedure: nope\nactions: {9a: redo}\n' > "$T/job-proc.yaml"
run_rc "--batch: unknown procedure" 2 "$RATERM" update -c "$CONF" --batch "$T/job-proc.yaml" --dry-run
expect_match "unknown procedure: file:line" "job-proc.yaml:1: procedure: no procedure 'nope'" "$OUT"
run_ok "check-config --job: a valid job" "$RATERM" check-config -c "$CONF" --job "$T/jobs.yaml"
expect_match "check-config --job: valid" "jobs.yaml: valid; 2 cards" "$OUT"
run_rc "check-config --job: broken jobs" 2 "$RATERM" check-config -c "$CONF" \
    --job "$T/job-bad.yaml" --job "$T/job-proc.yaml"
expect_match "check-config --job: file:line: field" "job-bad.yaml:5: colour: unknown key" "$OUT"
expect_match "check-config --job: unknown procedure" "job-proc.yaml:1: procedure: no procedure 'nope'" "$OUT"
run_rc "--batch: missing job file" 2 "$RATERM" update -c "$CONF" --batch "$T/none.yaml" --dry-run
expect_match "missing job file: named" "none.yaml:0: cannot read" "$OUT"
run_rc "--batch with --action" 2 "$RATERM" update -c "$CONF" --batch "$T/job.yaml" \
    --action 9a=redo --dry-run
expect_match "--batch with --action: refused" "--batch takes the reader, the procedure and the actions from the job file; not with --action" "$OUT"
printf 'server: http://127.0.0.1:2/cmp\n' >> "$T/job.yaml"
run_rc "--batch: --server in both places" 2 "$RATERM" update -c "$CONF" --batch "$T/job.yaml" \
    --server http://127.0.0.1:3/cmp --dry-run
expect_match "--server twice: named" "--server is given on the command line and in .*job.yaml:8 \(server\)" "$OUT"

run_rc "expired TC stops the card" 9 "$RATERM" update -c "$CONF" -r "$RO" \
    --procedure tc-redo --action 9a=redo --dry-run --pin-fd 3 3<"$PINS"
expect_match "expired: control named" "TC control failed on slot 9a \(TC_EXPIRED" "$OUT"

# a software officer token is warned about
sed 's/^  token: card/  token: software\n  key_file: officer.p12/; /^  slot: 9c/d' "$CONF" > "$T/soft.yaml"
run_ok "check-config: software token" "$RATERM" check-config -c "$T/soft.yaml"
expect_match "software token warned" "soft.yaml:[0-9]+: officer.token: warning: a software officer token is not recommended" "$OUT"

run_rc "without --dry-run and --yes: no terminal to confirm on" 2 "$RATERM" update \
    -c "$CONF" -r "$RT" --procedure tc-redo --action 9a=redo --pin-fd 3 3<"$PINS"
expect_match "submit: plan shown first" "^  9a +Redo" "$OUT"
expect_match "submit: clear error" "no terminal to confirm the update on; give --yes.*\[USAGE\]" "$OUT"
run_ok "card unchanged" "$RATERM" show -r "$RT" --transport-ca "$PKI/transport-ca.pem"
expect_match "TC still there" "^9a +ECCP256 +TC 9a .* TC\$" "$OUT"
stack_stop

# ---- readers from the configuration: the officer card and a TC card ------------
officer_card "$T/officer.state" 30000009 "$PKI/officer-ca" "CN=Olivia Officer,O=raterm tests"
stack_start --card "$T/officer.state" --card "$T/tc.state" || finish
run_ok "target reader auto: the card that is not the officer's" "$RATERM" update \
    -c "$CONF" --procedure tc-redo --action 9a=redo --dry-run --pin-fd 3 3<"$PINS"
expect_match "auto target: the TC card" "^Plan for the card in \"$VPIV_READER1\" \(serial 30000001\)" "$OUT"
sed "s#^  target: auto#  target: {pattern: \"$VPIV_READER0\"}#" "$CONF" > "$T/pattern.yaml"
run_ok "target reader by pattern" "$RATERM" update -c "$T/pattern.yaml" \
    --procedure renew --action 9c=redo --dry-run
expect_match "pattern target: reader 0's card" "^  9c +Redo +ECCP256 +\"Olivia Officer\" from raterm Test Officer CA" "$OUT"
finish
