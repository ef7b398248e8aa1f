#!/bin/sh
# t_ui_plain.sh - the first screen of raterm ui in plain terminals, tmux at
# 80x24: LANG=C (ASCII line drawing, no UTF-8), NO_COLOR (no colour, only
# bold/reverse), TERM=vt100 (no Shift-Tab in its terminfo: the screen maps
# ESC [ Z itself), TERM=linux (other F-key sequences: the xterm ones are
# mapped too); with colours allowed the screen does use them; the mouse
# (xterm's SGR reports): a click selects a row, a click on Quit quits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tmux.sh"

test_pki
officer_card "$T/officer.state" 40000029 "$PKI/officer-ca"
run_ok "TC card" tc_card "$T/a.state" 40000021
station_conf "$T/raterm.yaml"
stack_start --card "$T/officer.state" --card "$T/a.state" || finish

# ---- LANG=C, NO_COLOR, vt100 --------------------------------------------------------
tmux_start LANG=C LC_ALL=C NO_COLOR=1 TERM=vt100 -- "$RATERM" ui -c "$T/raterm.yaml"
tmux_wait "C locale: the rows" "9a +ECCP256 +Card 40000021 Auth +20[0-9-]+ +TC not checked +Blank" 20
expect_match "C locale: ASCII frame" "^\+- Contents -+\+$" "$T/screen.txt"
expect_match "C locale: ASCII sides" "^\| 9c +ECCP256" "$T/screen.txt"
expect_match "C locale: an empty Signature PIN" "Signature PIN: +\[ +\]" "$T/screen.txt"
expect_match "C locale: the procedure box with an ASCII marker" "Procedure: +\[\(choose one\) +v\]" "$T/screen.txt"
if grep -q "$(printf '\342')" "$T/screen.txt"; then
	fail "C locale: no UTF-8 on the screen" "found"
else
	ok "C locale: no UTF-8 on the screen"
fi
tmux_snap_e "$T/attrs.txt"
if grep -Eq "$(printf '\033')\[[0-9;]*(3[0-7]|4[0-7]|38;5|48;5)[;m]" "$T/attrs.txt"; then
	fail "NO_COLOR: no colour" "colour sequences on the screen"
else
	ok "NO_COLOR: no colour"
fi
tmux_keys Tab Tab
tmux_wait "vt100: Tab to the Signature PIN" "EnterDone"
tmux_keys BTab
tmux_wait "vt100: Shift-Tab (ESC [ Z) back to the procedure" "EnterChoose"
tmux_keys F1
tmux_wait "vt100: F1 help" "Help .*-"
tmux_keys Escape
tmux_wait_not "help closed" "Tab / Shift-Tab"
tmux_keys q
if tmux_exited 10; then ok "q quits"; else fail "q quits" "still running"; fi

# ---- colours, TERM=linux ----------------------------------------------------------------
tmux_start LANG=C.UTF-8 TERM=linux -- "$RATERM" ui -c "$T/raterm.yaml"
tmux_wait "linux: the rows" "9a +ECCP256 +Card 40000021 Auth" 20
tmux_snap_e "$T/attrs.txt"
expect_match "colours where allowed" "$(printf '\033')\[[0-9;]*(3[0-7]|4[0-7])[;m]" "$T/attrs.txt"
tmux_keys F1
tmux_wait "linux: F1 help" "Tab / Shift-Tab"
tmux_keys Enter
tmux_wait_not "help closed" "Tab / Shift-Tab"
tmux_keys F5
tmux_wait "linux: F5 reloads" "Read the card in"
tmux_keys F10
if tmux_exited 10; then ok "linux: F10 quits"; else fail "linux: F10 quits" "still running"; fi

# ---- the mouse (xterm's SGR reports) ------------------------------------------------------
tmux_start LANG=C.UTF-8 TERM=xterm -- "$RATERM" ui -c "$T/raterm.yaml"
tmux_wait "xterm: the rows" "9a +ECCP256 +Card 40000021 Auth" 20
# a click (press, release) on row 9d (screen line 8, column 10)
tmux_type "$(printf '\033[<0;10;8M\033[<0;10;8m')"
tmux_wait "mouse: a click on 9d selects it" "9d: CN=Card 40000021 KeyMgmt"
# a click on the [ Quit ] button (line 21)
tmux_type "$(printf '\033[<0;65;21M\033[<0;65;21m')"
if tmux_exited 10; then ok "mouse: Quit clicked"; else fail "mouse: Quit clicked" "still running"; fi
finish
